// Package service is the start-up every service shares: a JSON logger, the
// app port opened at once, the routes swapped in once the sidecar answers,
// and beside them /readyz and /metrics.
package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/metrics"
)

// Logger is a JSON slog logger naming the app. A line logged with a
// request's context carries its request_id and trace_id (httpx.LogHandler).
func Logger(w io.Writer, app, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	return slog.New(httpx.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))).With("app", app)
}

// Sidecar names the ports the runner (or the Dapr CLI) gives an app.
type Sidecar struct {
	HTTPPort string // DAPR_HTTP_PORT
	GRPCPort string // DAPR_GRPC_PORT
}

// URL is the sidecar's HTTP API base.
func (s Sidecar) URL() string { return "http://127.0.0.1:" + s.HTTPPort }

// App is what Run serves besides the routes.
type App struct {
	Log     *slog.Logger
	Addr    string
	Sidecar Sidecar
	// Metrics is the app's own registry, served at GET /metrics; Run adds
	// the HTTP metrics to it. nil: a new one (metrics.NewRegistry).
	Metrics *prometheus.Registry
	// Needs is what GET /readyz checks besides the sidecar itself.
	Needs Needs
	// TraceSampleRate is the chance that a trace started here is sampled
	// (TRACING_SAMPLING_RATE, SampleRate).
	TraceSampleRate float64
	// TrustsTrace, if not nil, tells which requests' traceparent is
	// continued (httpx.Observed.TrustsTrace); nil trusts every one, right
	// for an app that only its sidecar calls.
	TrustsTrace func(*http.Request) bool
}

// Run serves on a.Addr until ctx ends. daprd waits for the app port before
// it reports healthy, and the app needs daprd to do anything, so the port
// opens first and answers 503 (/healthz included, which daprd's app health
// check reads) until connect-and-build is done.
// build receives the connected client and returns the app's routes.
//
// Beside the routes Run serves GET /metrics (a.Metrics, with the HTTP
// metrics of every request) and GET /readyz (Readiness), so no app lists
// them in its routes.
func Run(ctx context.Context, a App, build func(context.Context, dapr.Client) (http.Handler, error)) error {
	log := a.Log
	reg := a.Metrics
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	var routes atomic.Pointer[http.Handler]
	gate := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := routes.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		switch r.URL.Path {
		case "/dapr/subscribe": // subscriptions are declarative (components/)
			httpx.Encode(w, http.StatusOK, []any{})
			return
		case "/dapr/config": // no actors
			http.NotFound(w, r)
			return
		}
		httpx.WriteProblem(w, r, errStarting)
	})
	ready := Readiness{Sidecar: a.Sidecar, Needs: a.Needs, Started: func() bool { return routes.Load() != nil }}
	h := httpx.Observe(httpx.Observed{Log: log, Metrics: metrics.NewHTTP(reg), SampleRate: a.TraceSampleRate, TrustsTrace: a.TrustsTrace},
		Probes(reg, ready, gate))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() {
		// A port that cannot be opened ends the wait for the sidecar too.
		served <- httpx.Serve(ctx, a.Addr, h, log, func(net.Addr) {})
		cancel()
	}()

	client, err := daprx.Connect(ctx, log, a.Sidecar.GRPCPort)
	if err != nil {
		cancel()
		if serr := <-served; serr != nil {
			return serr
		}
		return err
	}
	defer client.Close()
	app, err := build(ctx, client)
	if err != nil {
		cancel()
		<-served
		return err
	}
	routes.Store(&app)
	log.Info("ready")
	return <-served
}

var errStarting = errs.E(errs.Unavailable, "starting: waiting for the Dapr sidecar")

// Probes serves GET /metrics from reg and GET /readyz from ready, and
// everything else from routes. Not a ServeMux: its pattern would label
// every request the routes answer before their own mux matches (a 503
// while starting, a shed request).
func Probes(reg *prometheus.Registry, ready http.Handler, routes http.Handler) http.Handler {
	scrape := metrics.Handler(reg)
	ready = answerAgainFor(readyReuse, time.Now, ready)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/metrics":
			r.Pattern = "GET /metrics"
			scrape.ServeHTTP(w, r)
		case r.Method == http.MethodGet && r.URL.Path == "/readyz":
			r.Pattern = "GET /readyz"
			ready.ServeHTTP(w, r)
		default:
			routes.ServeHTTP(w, r)
		}
	})
}

// SampleRate reads TRACING_SAMPLING_RATE (default 0): the chance, from 0
// to 1, that a trace an app starts is sampled. It should be the sidecars'
// samplingRate (components/config.yaml reads the same variable), since
// daprd's sampler follows the root's decision.
func SampleRate(getenv func(string) string) (float64, error) {
	v := Env(getenv, "TRACING_SAMPLING_RATE", "0")
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return 0, fmt.Errorf("TRACING_SAMPLING_RATE must be a number from 0 to 1, not %q", v)
	}
	return f, nil
}

// Env returns getenv(key), or def when it is empty.
func Env(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// ListenAddr is where an app listens: APP_HOST (default 127.0.0.1, so that
// only its own sidecar, on the same host or in the same pod, reaches it)
// and port. The gateway, which serves the public API, sets APP_HOST=0.0.0.0
// in containers.
func ListenAddr(getenv func(string) string, port string) string {
	return net.JoinHostPort(Env(getenv, "APP_HOST", "127.0.0.1"), port)
}

// Healthcheck asks the app on 127.0.0.1:APP_PORT and returns the exit
// code for `<service> healthcheck [readyz]`: the container images have no
// shell and no curl, so Docker and Kubernetes run the service's own binary.
// With no argument it asks /healthz (alive: liveness and start-up probes),
// with "readyz" /readyz (its sidecar and components answer: readiness).
func Healthcheck(getenv func(string) string, defaultPort string, args []string) int {
	path := "/healthz"
	switch {
	case len(args) == 0:
	case len(args) == 1 && (args[0] == "readyz" || args[0] == "healthz"):
		path = "/" + args[0]
	default:
		fmt.Fprintln(os.Stderr, "usage: healthcheck [healthz|readyz]")
		return 2
	}
	// Longer than /readyz takes to tell a dependency that does not answer.
	c := &http.Client{Timeout: readyTimeout + 2*time.Second}
	resp, err := c.Get("http://127.0.0.1:" + Env(getenv, "APP_PORT", defaultPort) + path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		fmt.Fprintln(os.Stderr, "healthcheck:", resp.Status, strings.TrimSpace(string(b)))
		return 1
	}
	return 0
}

// StartPprof serves net/http/pprof on addr (PPROF_ADDR, e.g.
// 127.0.0.1:6060) until ctx ends; an empty addr serves nothing. Profiling
// stays off unless asked for, and never on the app's own port.
func StartPprof(ctx context.Context, log *slog.Logger, addr string) {
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		log.Info("pprof listening", "addr", addr)
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			log.Error("pprof", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
}
