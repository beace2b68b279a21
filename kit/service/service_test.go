package service

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/testkit"
)

// A cron route also names its route for metrics and refuses invocation.
func TestCronSkipsTicksWhileAPassRuns(t *testing.T) {
	release := make(chan struct{})
	var passes atomic.Int32
	h := NewRoutes(slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.Cron(context.Background(), "/tick", time.Minute, func(context.Context) {
		passes.Add(1)
		<-release
	})
	for range 3 {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/tick", nil)
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusOK, rec.Code, "tick answered")
		assert.Equal(t, "POST /tick", req.Pattern, "the route the metrics name")
	}
	invoked := httptest.NewRequest(http.MethodPost, "/tick", nil)
	invoked.Header.Set(CallerHeader, "sms")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, invoked)
	assert.Equal(t, http.StatusForbidden, rec.Code, "a tick by service invocation")
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for passes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	assert.Equal(t, int32(1), passes.Load(), "passes ran for three ticks during one pass")
}

func TestPatternsNameEveryRouteAsARequestReachesIt(t *testing.T) {
	h := NewRoutes(slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.Cron(context.Background(), "/tick", time.Minute, func(context.Context) {})
	h.Invoked(http.MethodGet, "/things/{id}", http.NotFoundHandler(), "gateway")
	h.Invoked(http.MethodGet, "/things/", http.NotFoundHandler(), "gateway")
	assert.Equal(t, []string{"* /tick", "GET /things/", "GET /things/{id}"}, h.Patterns())
	for target, want := range map[string]string{
		"/tick":          "* /tick",
		"/things/a?b=c":  "GET /things/{id}",
		"/things/":       "GET /things/",
		"/things/a/b":    "",
		"/no-such-route": "",
		"relative/path":  "",
	} {
		assert.Equal(t, want, h.PatternOf(http.MethodGet, target), "GET %s", target)
	}
	assert.Equal(t, "* /tick", h.PatternOf(http.MethodPost, "/tick"), "POST /tick")
	assert.Empty(t, h.PatternOf(http.MethodPost, "/things/a"), "POST /things/a (GET only)")
}

func TestACronPassThatPanicsIsLoggedAndTheAppGoesOn(t *testing.T) {
	var logged testkit.Logs
	h := NewRoutes(slog.New(slog.NewTextHandler(&logged, nil)))
	var passes atomic.Int32
	h.Cron(context.Background(), "/tick", time.Minute, func(context.Context) {
		if passes.Add(1) == 1 {
			panic("a bug in the pass")
		}
	})
	tick := func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/tick", nil))
		require.Equal(t, http.StatusOK, rec.Code)
	}
	tick()
	assert.Eventually(t, func() bool { return strings.Contains(logged.String(), "cron pass panicked") }, 10*time.Second, 10*time.Millisecond)
	assert.Contains(t, logged.String(), "route=/tick")
	assert.Contains(t, logged.String(), `panic="a bug in the pass"`)
	// The pass's slot was released: the next tick runs one.
	assert.Eventually(t, func() bool { tick(); return passes.Load() >= 2 }, 10*time.Second, 50*time.Millisecond)
}

// A tick that finds nothing to do says nothing: the pass logs its work.
func TestACronTickIsNotLoggedAtInfo(t *testing.T) {
	var logged testkit.Logs
	log := slog.New(httpx.LogHandler(slog.NewJSONHandler(&logged, nil)))
	h := NewRoutes(log)
	h.Cron(context.Background(), "/tick", time.Minute, func(context.Context) {})
	invoked := httpx.Middleware(log, h)
	rec := httptest.NewRecorder()
	invoked.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/tick", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	other := httptest.NewRecorder()
	invoked.ServeHTTP(other, httptest.NewRequest(http.MethodGet, "/no-such-route", nil))
	assert.NotContains(t, logged.String(), `"path":"/tick"`)
	assert.Contains(t, logged.String(), `"path":"/no-such-route"`, "other requests still logged")
}
