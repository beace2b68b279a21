package service

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthcheckExitCode(t *testing.T) {
	status := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	env := func(k string) string { return map[string]string{"APP_PORT": port}[k] }
	if code := Healthcheck(env, "1"); code != 1 {
		t.Fatalf("unhealthy app: exit %d, want 1", code)
	}
	status = http.StatusOK
	if code := Healthcheck(env, "1"); code != 0 {
		t.Fatalf("healthy app: exit %d, want 0", code)
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
