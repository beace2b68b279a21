// Package service is the start-up every service shares: a JSON logger, the
// app port opened at once, and the routes swapped in once the sidecar answers.
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

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
)

// Logger is a JSON slog logger naming the app.
func Logger(w io.Writer, app, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})).With("app", app)
}

// Sidecar names the ports the runner (or the Dapr CLI) gives an app.
type Sidecar struct {
	HTTPPort string // DAPR_HTTP_PORT
	GRPCPort string // DAPR_GRPC_PORT
}

// URL is the sidecar's HTTP API base.
func (s Sidecar) URL() string { return "http://127.0.0.1:" + s.HTTPPort }

// Run serves on addr until ctx ends. daprd waits for the app port before it
// reports healthy, and the app needs daprd to do anything, so the port opens
// first and answers 503 (/healthz included, which daprd's app health check
// reads) until connect-and-build is done.
// build receives the connected client and returns the app's routes.
func Run(ctx context.Context, log *slog.Logger, addr string, sc Sidecar, build func(context.Context, dapr.Client) (http.Handler, error)) error {
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
		httpx.WriteProblem(w, r, errs.E(errs.Unavailable, "starting: waiting for the Dapr sidecar"))
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() {
		// A port that cannot be opened ends the wait for the sidecar too.
		served <- httpx.Serve(ctx, addr, httpx.Middleware(log, gate), log, func(net.Addr) {})
		cancel()
	}()

	client, err := daprx.Connect(ctx, log, sc.GRPCPort)
	if err != nil {
		cancel()
		if serr := <-served; serr != nil {
			return serr
		}
		return err
	}
	defer client.Close()
	h, err := build(ctx, client)
	if err != nil {
		cancel()
		<-served
		return err
	}
	routes.Store(&h)
	log.Info("ready")
	return <-served
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

// Healthcheck asks the app's /healthz on 127.0.0.1:APP_PORT and returns the
// exit code for `<service> healthcheck`: the container images have no shell
// and no curl, so Docker and Kubernetes run the service's own binary.
func Healthcheck(getenv func(string) string, defaultPort string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + Env(getenv, "APP_PORT", defaultPort) + "/healthz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck:", resp.Status)
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
