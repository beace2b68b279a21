package service

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAnAppWithoutATokenRefusesToStart(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if _, err := AppToken(getenv); err == nil || !strings.Contains(err.Error(), "APP_API_TOKEN") {
		t.Fatalf("no token: %v", err)
	}
	env["APP_API_TOKEN"] = "short"
	if _, err := AppToken(getenv); err == nil {
		t.Fatal("a 5-character token was taken")
	}
	env["APP_API_TOKEN"] = "a-long-enough-random-token"
	if tok, err := AppToken(getenv); err != nil || tok != env["APP_API_TOKEN"] {
		t.Fatalf("token %q, %v", tok, err)
	}
	env = map[string]string{"ALLOW_NO_APP_TOKEN": "true"}
	if tok, err := AppToken(getenv); err != nil || tok != "" {
		t.Fatalf("allowed without: %q, %v", tok, err)
	}
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
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("token %q: %d %q", tok, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	if ran != 0 {
		t.Fatalf("the route ran %d times", ran)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 || strings.Contains(logs.String(), "token-456") {
		t.Fatalf("%d lines: %s", n, logs.String())
	}
	req := httptest.NewRequest(http.MethodPost, "/events/x", nil)
	req.Header.Set(TokenHeader, "the-right-token-123")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if ran != 1 {
		t.Fatal("the sidecar's call did not get through")
	}
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
		if rec.Code != c.want {
			t.Errorf("caller %q: %d, want %d", c.caller, rec.Code, c.want)
		}
	}
}
