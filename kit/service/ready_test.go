package service

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/metrics"
)

// fakeSidecar answers the three calls /readyz makes, as daprd does.
type fakeSidecar struct {
	healthy  atomic.Bool
	loaded   []string
	storeErr map[string]int           // store -> status it answers (0: 204)
	hang     map[string]chan struct{} // store -> never answers until closed
}

func (f *fakeSidecar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v1.0/healthz":
		if !f.healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/v1.0/metadata":
		var md struct {
			Components []map[string]string `json:"components"`
		}
		for _, c := range f.loaded {
			md.Components = append(md.Components, map[string]string{"name": c, "version": "v1"})
		}
		_ = json.NewEncoder(w).Encode(md)
	case strings.HasPrefix(r.URL.Path, "/v1.0/state/"):
		store := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1.0/state/"), "/")[0]
		if c, ok := f.hang[store]; ok {
			select {
			case <-c:
			case <-r.Context().Done():
			}
			return
		}
		if code := f.storeErr[store]; code != 0 {
			w.WriteHeader(code)
			_, _ = w.Write([]byte(`{"errorCode":"ERR_STATE_GET","message":"connection refused at 10.0.0.7"}`))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

func sidecarOf(t *testing.T, f *fakeSidecar) Sidecar {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return Sidecar{HTTPPort: port}
}

func readyz(rd Readiness) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	rd.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return rec
}

func TestReadyWhenSidecarComponentsAndStoresAnswer(t *testing.T) {
	f := &fakeSidecar{loaded: []string{"gateway-store", "gateway-deliveries", "pubsub"}}
	f.healthy.Store(true)
	rd := Readiness{Sidecar: sidecarOf(t, f), Needs: Needs{
		Components: []string{"pubsub", "gateway-store"}, Stores: []string{"gateway-store", "gateway-deliveries"}}}
	rec := readyz(rd)
	var got readyAnswer
	_ = json.Unmarshal(rec.Body.Bytes(), &got)
	want := map[string]string{"sidecar": "ok", "components": "ok", "store gateway-store": "ok", "store gateway-deliveries": "ok"}
	require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
	assert.Equal(t, "ready", got.Status)
	assert.Equal(t, want, got.Checks, "checks")
}

func TestNotReadyNamesWhatFailed(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fakeSidecar)
		want  []string
	}{
		{"sidecar_unhealthy", func(f *fakeSidecar) { f.healthy.Store(false) }, []string{"sidecar: sidecar answered 500"}},
		{"component_not_loaded", func(f *fakeSidecar) { f.loaded = []string{"voucher-store"} }, []string{"components: not loaded: pubsub"}},
		{"store_failing_says_daprds_code_only", func(f *fakeSidecar) { f.storeErr = map[string]int{"voucher-store": 500} },
			[]string{"store voucher-store: sidecar answered 500 ERR_STATE_GET"}},
		{"store_hanging_times_out", func(f *fakeSidecar) { f.hang = map[string]chan struct{}{"voucher-store": make(chan struct{})} },
			[]string{"store voucher-store: no answer within 1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSidecar{loaded: []string{"voucher-store", "pubsub"}}
			f.healthy.Store(true)
			tt.setup(f)
			rd := Readiness{Sidecar: sidecarOf(t, f), Needs: Needs{Components: []string{"voucher-store", "pubsub"}, Stores: []string{"voucher-store"}}}
			rec := readyz(rd)
			var p httpx.Problem
			_ = json.Unmarshal(rec.Body.Bytes(), &p)
			require.Equal(t, http.StatusServiceUnavailable, rec.Code, "%s", rec.Body)
			assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			assert.Equal(t, httpx.ProblemTypeBase+"unavailable", p.Type, "%s", rec.Body)
			for _, w := range tt.want {
				assert.Contains(t, p.Detail, w, "detail")
			}
			assert.NotContains(t, p.Detail, "10.0.0.7", "detail repeats the component's own words")
		})
	}
}

func TestNotReadyUntilStartedAndWithoutASidecar(t *testing.T) {
	f := &fakeSidecar{}
	f.healthy.Store(true)
	rd := Readiness{Sidecar: sidecarOf(t, f), Started: func() bool { return false }}
	rec := readyz(rd)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "%s", rec.Body)
	assert.Contains(t, rec.Body.String(), "starting")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close() // nothing listens there
	start := time.Now()
	rec = readyz(Readiness{Sidecar: Sidecar{HTTPPort: port}})
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "%s", rec.Body)
	assert.Contains(t, rec.Body.String(), "sidecar unreachable")
	assert.LessOrEqual(t, time.Since(start), time.Minute, "the check did not give up")
}

func TestProbesServeMetricsAndReadinessBesideTheRoutes(t *testing.T) {
	reg := metrics.NewRegistry()
	purchases := metrics.NewPurchases(reg)
	purchases.Finished("SUCCESS")
	routes := http.NewServeMux()
	routes.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	f := &fakeSidecar{}
	f.healthy.Store(true)
	obs := metrics.NewHTTP(reg)
	h := httpx.Observe(httpx.Observed{Log: slog.New(slog.DiscardHandler), Metrics: obs}, Probes(reg, Readiness{Sidecar: sidecarOf(t, f)}, routes))
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", p, rec.Body)
		if p == "/metrics" {
			body := rec.Body.String()
			for _, want := range []string{
				`vouchers_purchases_total{status="SUCCESS"} 1`,
				`vouchers_http_requests_total{method="GET",route="GET /healthz",status="200"} 1`,
				`vouchers_http_requests_total{method="GET",route="GET /readyz",status="200"} 1`,
				"go_goroutines", "process_",
			} {
				assert.Contains(t, body, want, "/metrics lacks %s", want)
			}
		}
	}
	assert.Equal(t, 3, testutil.CollectAndCount(obs.Seconds), "duration series")
}
