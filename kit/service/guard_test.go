package service

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAnAppWithoutATokenRefusesToStart(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	_, err := AppToken(getenv)
	assert.ErrorContains(t, err, "APP_API_TOKEN", "no token")
	env["APP_API_TOKEN"] = "short"
	_, err = AppToken(getenv)
	assert.Error(t, err, "a 5-character token was taken")
	env["APP_API_TOKEN"] = "a-long-enough-random-token"
	tok, err := AppToken(getenv)
	assert.NoError(t, err)
	assert.Equal(t, env["APP_API_TOKEN"], tok, "token")
	env = map[string]string{"ALLOW_NO_APP_TOKEN": "true"}
	tok, err = AppToken(getenv)
	assert.NoError(t, err, "allowed without")
	assert.Empty(t, tok, "allowed without")
}

// TestSidecarOnlyRefusesWithoutTheTokenAndNeverLogsIt: 401 problem+json,
// the route not run, one log line for a burst, and no token in it.
func TestSidecarOnlyRefusesWithoutTheTokenAndNeverLogsIt(t *testing.T) {
	var logs bytes.Buffer
	ran := 0
	h := SidecarOnly(slog.New(slog.NewJSONHandler(&logs, nil)), "the-right-token-123", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran++ }))
	for _, tok := range []string{"", "the-wrong-token-456", "the-right-token-12"} {
		req := httptest.NewRequest(http.MethodPost, "/events/x", nil)
		if tok != "" {
			req.Header.Set(TokenHeader, tok)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "token %q", tok)
		assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"), "token %q", tok)
	}
	assert.Zero(t, ran, "the route ran")
	assert.Equal(t, 1, strings.Count(logs.String(), "\n"), "log lines: %s", logs.String())
	assert.NotContains(t, logs.String(), "token-456", "the token was logged")
	req := httptest.NewRequest(http.MethodPost, "/events/x", nil)
	req.Header.Set(TokenHeader, "the-right-token-123")
	h.ServeHTTP(httptest.NewRecorder(), req)
	assert.Equal(t, 1, ran, "the sidecar's call did not get through")
}

func TestDeliveredAndInvokedByTellCallersApart(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, c := range []struct {
		h      http.Handler
		caller string
		want   int
	}{
		{Delivered(ok), "", http.StatusNoContent},
		{Delivered(ok), "gateway", http.StatusForbidden},
		{InvokedBy(ok, "gateway"), "gateway", http.StatusNoContent},
		{InvokedBy(ok, "gateway"), "sms", http.StatusForbidden},
		{InvokedBy(ok, "gateway"), "", http.StatusForbidden},
	} {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		if c.caller != "" {
			req.Header.Set(CallerHeader, c.caller)
		}
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, req)
		assert.Equal(t, c.want, rec.Code, "caller %q", c.caller)
	}
}
