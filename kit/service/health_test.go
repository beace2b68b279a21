package service

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	assert.Equal(t, 1, Healthcheck(env, "1", nil), "unhealthy app: exit code")
	status["/healthz"] = http.StatusOK
	assert.Equal(t, 0, Healthcheck(env, "1", nil), "healthy app: exit code")
	assert.Equal(t, 1, Healthcheck(env, "1", []string{"readyz"}), "alive but not ready: exit code")
	status["/readyz"] = http.StatusOK
	assert.Equal(t, 0, Healthcheck(env, "1", []string{"readyz"}), "ready app: exit code")
	assert.Equal(t, 2, Healthcheck(env, "1", []string{"sideways"}), "unknown probe: exit code")
}

func TestListenAddr(t *testing.T) {
	none := func(string) string { return "" }
	assert.Equal(t, "127.0.0.1:8080", ListenAddr(none, "8080"), "default")
	all := func(k string) string { return map[string]string{"APP_HOST": "0.0.0.0"}[k] }
	assert.Equal(t, "0.0.0.0:8080", ListenAddr(all, "8080"), "APP_HOST")
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
		rec := get()
		require.Equal(t, 200, rec.Code)
		require.Equal(t, `{"status":"ready"}`, rec.Body.String())
		require.Equal(t, "application/json", rec.Header().Get("Content-Type"), "headers %v", rec.Header())
	}
	assert.Equal(t, 1, asked, "50 probes within the window asked this many times")
	status = http.StatusServiceUnavailable
	now = now.Add(time.Second)
	assert.Equal(t, 503, get().Code, "after the window, want 503 from a second check")
	assert.Equal(t, 2, asked, "after the window, want a second check")
}
