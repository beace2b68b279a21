// Package service is the start-up every service shares.
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

// Logger is a JSON logger naming the app, with request and trace ids.
func Logger(w io.Writer, app, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	return slog.New(httpx.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))).With("app", app)
}

// Sidecar is how an app reaches its daprd.
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
	// Addr is the app port, the one daprd calls.
	Addr string
	// PublicAddr, if set, serves only Faces.Public and /healthz to outside callers.
	PublicAddr string
	// AppToken is what daprd sends on every call; sidecar routes require it.
	AppToken string
	Sidecar  Sidecar
	// Metrics, if nil, is a new registry.
	Metrics *prometheus.Registry
	// Needs is what GET /readyz checks besides the sidecar.
	Needs Needs
	// TraceSampleRate is TRACING_SAMPLING_RATE.
	TraceSampleRate float64
}

// Faces are an app's routes, by who may call them.
type Faces struct {
	// Sidecar is what the app's own daprd calls. It needs the app token.
	Sidecar http.Handler
	// Operator, if set, serves /ops/ with its own credential, not the app token.
	Operator http.Handler
	// Public, if set, is served on App.PublicAddr.
	Public http.Handler

	sidecar http.Handler // Sidecar behind the app token
}

// Run opens the ports first, answering 503 until build is done, because
// daprd waits for the app port. Only the app port continues a traceparent,
// so outside callers cannot pick our trace ids or force sampling.
func Run(ctx context.Context, a App, build func(context.Context, dapr.Client) (Faces, error)) error {
	log := a.Log
	stop, err := StartTracing(ctx, log, os.Getenv, a.TraceSampleRate)
	if err != nil {
		return err
	}
	defer stop()
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
		// A port that cannot open also ends the wait for the sidecar.
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
	// A listener that ends cancels ctx too.
	<-ctx.Done()
	return wait(nil)
}

// alive tells nothing but up, because daprd reads it without the app token.
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

// Probes is not a ServeMux, whose pattern would label requests the routes
// answer before their own mux, such as a 503 while starting.
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

// Env returns getenv(key), or def if empty.
func Env(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// ListenAddr defaults to 127.0.0.1, so only the app's own sidecar reaches it.
func ListenAddr(getenv func(string) string, port string) string {
	return net.JoinHostPort(Env(getenv, "APP_HOST", "127.0.0.1"), port)
}

// PublicListenAddr is "" when there is no public port.
func PublicListenAddr(getenv func(string) string, def string) string {
	port := Env(getenv, "PUBLIC_PORT", def)
	if port == "" {
		return ""
	}
	return net.JoinHostPort(Env(getenv, "PUBLIC_HOST", "127.0.0.1"), port)
}

// Healthcheck lets probes run the service's binary: the images have no shell or curl.
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
	// Longer than /readyz takes to give up on a dependency.
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

// StartPprof serves pprof on addr, never on the app's port. "" serves nothing.
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

// flush is bounded so a collector that is down cannot hold up the exit.
// StartTracing sets tracing up (tracing.Setup); stop exports the spans
// left at exit, for at most 5 s. Run calls it; an app without Run does.
func StartTracing(ctx context.Context, log *slog.Logger, getenv func(string) string, sampleRate float64) (stop func(), err error) {
	shutdown, err := tracing.Setup(ctx, getenv, sampleRate)
	if err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			log.Warn("spans not exported at exit", "error", err)
		}
	}, nil
}
