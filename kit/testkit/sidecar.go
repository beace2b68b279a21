package testkit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Call is one request to an app's sidecar face, forged or genuine.
type Call struct {
	Method, Path, Body string
	// Token is sent as dapr-api-token when not empty.
	Token string
	// Caller is sent as dapr-caller-app-id when not empty.
	Caller string
	// Want is the status expected.
	Want int
}

// Expect fails t for each call not answered with its Want.
func Expect(t testing.TB, h http.Handler, calls ...Call) {
	t.Helper()
	for _, c := range calls {
		req := httptest.NewRequest(c.Method, c.Path, strings.NewReader(c.Body))
		req.Header.Set("Content-Type", "application/json")
		if c.Token != "" {
			req.Header.Set("dapr-api-token", c.Token)
		}
		if c.Caller != "" {
			req.Header.Set("dapr-caller-app-id", c.Caller)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.Want {
			t.Errorf("%s %s (token %q, caller %q): %d, want %d: %s", c.Method, c.Path, c.Token, c.Caller, rec.Code, c.Want, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); rec.Code >= 400 && ct != "application/problem+json" {
			t.Errorf("%s %s: a %d answered as %q, not problem+json: %s", c.Method, c.Path, rec.Code, ct, rec.Body)
		}
	}
}
