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
	"strings"
	"sync/atomic"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/tracing"
)

// Logger is a JSON slog logger naming the app. A line logged with a
// request's context carries its request_id and trace_id (httpx.LogHandler).
func Logger(w io.Writer, app, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	return slog.New(httpx.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))).With("app", app)
}

// Sidecar names the ports the runner (or the Dapr CLI) gives an app, and
// the token the app proves itself to its sidecar with.
type Sidecar struct {
	HTTPPort string `env:"DAPR_HTTP_PORT"`
	GRPCPort string `env:"DAPR_GRPC_PORT"`
	// daprd refuses calls to its API without it.
	Token string `env:"DAPR_API_TOKEN"`
}

// URL is the sidecar's HTTP API base.
func (s Sidecar) URL() string { return "http://127.0.0.1:" + s.HTTPPort }

// App is what Run serves besides the routes.
type App struct {
	Log *slog.Logger
	// Addr is the app port, the one daprd calls (APP_PORT): the sidecar's
	// routes, /healthz, /readyz and /metrics.
	Addr string
	// PublicAddr, if set, is a second listener for what callers from
	// outside the system may reach (PUBLIC_PORT): Faces.Public and
	// /healthz, nothing else.
	PublicAddr string
	// AppToken is what daprd sends on every call to the app (AppToken);
	// the sidecar's routes refuse a request without it.
	AppToken string
	Sidecar  Sidecar
	// Metrics is the app's own registry, served at GET /metrics; Run adds
	// the HTTP metrics to it. nil: a new one (metrics.NewRegistry).
	Metrics *prometheus.Registry
	// Needs is what GET /readyz checks besides the sidecar itself.
	Needs Needs
	// TraceSampleRate is the chance that a trace started here is sampled
	// (TRACING_SAMPLING_RATE). Spans are exported when
	// OTEL_EXPORTER_OTLP_ENDPOINT is set (tracing.Setup).
	TraceSampleRate float64
}

// Faces are an app's routes, by who may call them.
type Faces struct {
	// Sidecar is what the app's own daprd calls: topic deliveries, input
	// bindings, service invocation. Served on the app port, to requests
	// with the app token only (SidecarOnly).
	Sidecar http.Handler
	// Operator, if set, serves /ops/ on the app port, guarded by its own
	// credential rather than the app token.
	Operator http.Handler
	// Public, if set, is served on App.PublicAddr.
	Public http.Handler

	sidecar http.Handler // Sidecar behind the app token
}

// Run serves until ctx ends. daprd waits for the app port before it
// reports healthy, and the app needs daprd to do anything, so the ports
// open first and answer 503 (/healthz included, which daprd's app health
// check reads) until connect-and-build is done.
// build receives the connected client and returns the app's routes.
//
// Beside the routes Run serves, on the app port, GET /healthz, GET /metrics
// (a.Metrics, with the HTTP metrics of every request) and GET /readyz
// (Readiness), so no app lists them in its routes. Anything else on the
// app port goes to Faces.Sidecar and needs the app token.
//
// A traceparent is continued on the app port, where only the sidecar gets
// through; on the public port every request starts a trace of its own, so
// no caller picks the trace id the system logs under or forces sampling.
func Run(ctx context.Context, a App, build func(context.Context, dapr.Client) (Faces, error)) error {
	log := a.Log
	shutdown, err := tracing.Setup(ctx, os.Getenv, a.TraceSampleRate)
	if err != nil {
		return err
	}
	defer flush(log, shutdown)
	reg := a.Metrics
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	httpMetrics := metrics.NewHTTP(reg)
	var faces atomic.Pointer[Faces]
	started := func() bool { return faces.Load() != nil }
	private := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := faces.Load()
		if f == nil {
			if r.URL.Path == "/dapr/subscribe" { // subscriptions are declarative (components/)
				httpx.Encode(w, http.StatusOK, []any{})
				return
			}
			httpx.WriteProblem(w, r, errStarting)
			return
		}
		if f.Operator != nil && strings.HasPrefix(r.URL.Path, "/ops/") {
			f.Operator.ServeHTTP(w, r)
			return
		}
		f.sidecar.ServeHTTP(w, r)
	})
	ready := Readiness{Sidecar: a.Sidecar, Needs: a.Needs, Started: started}
	h := httpx.Observe(httpx.Observed{Log: log, Metrics: httpMetrics},
		Probes(reg, ready, alive(started, private)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	listeners := 1
	served := make(chan error, 2)
	serve := func(addr string, h http.Handler) {
		// A port that cannot be opened ends the wait for the sidecar too.
		served <- httpx.Serve(ctx, addr, h, log, func(net.Addr) {})
		cancel()
	}
	go serve(a.Addr, h)
	if a.PublicAddr != "" {
		listeners++
		public := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f := faces.Load()
			switch {
			case f == nil:
				httpx.WriteProblem(w, r, errStarting)
			case f.Public == nil:
				http.NotFound(w, r)
			default:
				f.Public.ServeHTTP(w, r)
			}
		})
		never := func(*http.Request) bool { return false }
		go serve(a.PublicAddr, httpx.Observe(httpx.Observed{Log: log, Metrics: httpMetrics, TrustsTrace: never},
			alive(started, public)))
	}
	wait := func(err error) error {
		cancel()
		var first error
		for range listeners {
			if serr := <-served; serr != nil && first == nil {
				first = serr
			}
		}
		if first != nil {
			return first
		}
		return err
	}

	client, err := daprx.Connect(ctx, log, a.Sidecar.GRPCPort)
	if err != nil {
		return wait(err)
	}
	defer client.Close()
	f, err := build(ctx, client)
	if err != nil {
		return wait(err)
	}
	if f.Sidecar == nil {
		f.Sidecar = http.NotFoundHandler()
	}
	f.sidecar = SidecarOnly(log, a.AppToken, f.Sidecar)
	faces.Store(&f)
	log.Info("ready")
	// Until shutdown, or until a listener ends (serve cancels ctx).
	<-ctx.Done()
	return wait(nil)
}

// alive answers GET /healthz: 200 once the routes are served, 503 before.
// daprd's app health check reads it without the app token, and it tells
// nothing else.
func alive(started func() bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		r.Pattern = "GET /healthz"
		if !started() {
			httpx.WriteProblem(w, r, errStarting)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
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

// Env returns getenv(key), or def when it is empty.
func Env(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// ListenAddr is where an app's own port listens, the one its sidecar
// calls: APP_HOST (default 127.0.0.1, so that only its own sidecar, on the
// same host or in the same pod, reaches it) and port.
func ListenAddr(getenv func(string) string, port string) string {
	return net.JoinHostPort(Env(getenv, "APP_HOST", "127.0.0.1"), port)
}

// PublicListenAddr is where an app's public port listens (PUBLIC_PORT,
// def when unset; "" when both are empty: no public port): PUBLIC_HOST,
// default 127.0.0.1. Containers set PUBLIC_HOST=0.0.0.0.
func PublicListenAddr(getenv func(string) string, def string) string {
	port := Env(getenv, "PUBLIC_PORT", def)
	if port == "" {
		return ""
	}
	return net.JoinHostPort(Env(getenv, "PUBLIC_HOST", "127.0.0.1"), port)
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

// flush exports the spans left when the app stops, for a few seconds at
// most: a collector that is down must not hold up the exit.
func flush(log *slog.Logger, shutdown func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		log.Warn("spans not exported at exit", "error", err)
	}
}
