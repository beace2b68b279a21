package service

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHealthcheckExitCode(t *testing.T) {
	status := map[string]int{"/healthz": http.StatusServiceUnavailable, "/readyz": http.StatusServiceUnavailable}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, ok := status[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	env := func(k string) string { return map[string]string{"APP_PORT": port}[k] }
	if code := Healthcheck(env, "1", nil); code != 1 {
		t.Fatalf("unhealthy app: exit %d, want 1", code)
	}
	status["/healthz"] = http.StatusOK
	if code := Healthcheck(env, "1", nil); code != 0 {
		t.Fatalf("healthy app: exit %d, want 0", code)
	}
	if code := Healthcheck(env, "1", []string{"readyz"}); code != 1 {
		t.Fatalf("alive but not ready: exit %d, want 1", code)
	}
	status["/readyz"] = http.StatusOK
	if code := Healthcheck(env, "1", []string{"readyz"}); code != 0 {
		t.Fatalf("ready app: exit %d, want 0", code)
	}
	if code := Healthcheck(env, "1", []string{"sideways"}); code != 2 {
		t.Fatalf("unknown probe: exit %d, want 2", code)
	}
}

func TestListenAddr(t *testing.T) {
	none := func(string) string { return "" }
	if got := ListenAddr(none, "8080"); got != "127.0.0.1:8080" {
		t.Fatalf("default %s", got)
	}
	all := func(k string) string { return map[string]string{"APP_HOST": "0.0.0.0"}[k] }
	if got := ListenAddr(all, "8080"); got != "0.0.0.0:8080" {
		t.Fatalf("APP_HOST %s", got)
	}
}

func TestReadinessIsAskedAtMostOncePerReuseWindow(t *testing.T) {
	asked := 0
	status := http.StatusOK
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		asked++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":"ready"}`))
	})
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	cached := answerAgainFor(time.Second, func() time.Time { return now }, h)
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		cached.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec
	}
	for range 50 {
		if rec := get(); rec.Code != 200 || rec.Body.String() != `{"status":"ready"}` || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%d %q %v", rec.Code, rec.Body, rec.Header())
		}
	}
	if asked != 1 {
		t.Fatalf("50 probes within the window asked %d times, want 1", asked)
	}
	status = http.StatusServiceUnavailable
	now = now.Add(time.Second)
	if rec := get(); rec.Code != 503 || asked != 2 {
		t.Fatalf("after the window: %d, asked %d times; want 503 from a second check", rec.Code, asked)
	}
}
