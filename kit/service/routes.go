package service

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dapr/go-sdk/service/common"
	daprhttp "github.com/dapr/go-sdk/service/http"
	"github.com/go-chi/chi/v5"

	"github.com/bankabc/vouchers/kit/httpx"
)

// Routes is an app's sidecar face on go-sdk's router. The SDK's server never
// starts, so only the declarative Subscriptions count. Invocation targets are
// our own handlers, because the SDK's answers 500 to every error.
type Routes struct {
	log       *slog.Logger
	mux       *chi.Mux
	sdk       common.Service
	delivered map[string]bool
}

// NewRoutes logs cron passes' panics to log.
func NewRoutes(log *slog.Logger) *Routes {
	if log == nil {
		log = slog.Default()
	}
	r := &Routes{log: log, mux: chi.NewRouter(), delivered: map[string]bool{}}
	r.mux.Use(func(next http.Handler) http.Handler {
		delivered := Delivered(next)
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if r.delivered[req.URL.Path] {
				delivered.ServeHTTP(w, req)
				return
			}
			next.ServeHTTP(w, req)
		})
	})
	r.sdk = daprhttp.NewServiceWithMux("", r.mux)
	return r
}

// Topic routes deliveries of topics to h.
func (r *Routes) Topic(pubsub, route string, h common.TopicEventHandler, topics ...string) {
	r.delivered[route] = true
	for _, topic := range topics {
		if err := r.sdk.AddTopicEventHandler(&common.Subscription{PubsubName: pubsub, Topic: topic, Route: route}, h); err != nil {
			panic("service: topic route " + route + ": " + err.Error()) // a wiring mistake, found at start-up
		}
	}
}

// Cron runs one pass at a time, in the background.
func (r *Routes) Cron(ctx context.Context, route string, timeout time.Duration, pass func(context.Context)) {
	r.delivered[route] = true
	start := oneAtATime(ctx, timeout, recovered(r.log, route, pass))
	err := r.sdk.AddBindingInvocationHandler(route, func(ctx context.Context, _ *common.BindingEvent) ([]byte, error) {
		httpx.Quiet(ctx)
		start(ctx)
		return nil, nil
	})
	if err != nil {
		panic("service: cron route " + route + ": " + err.Error())
	}
}

// Invoked decodes path values as a ServeMux does; chi would keep "a%2Fb".
func (r *Routes) Invoked(method, pattern string, h http.Handler, callers ...string) {
	decoded := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if rctx := chi.RouteContext(req.Context()); rctx != nil {
			for i, k := range rctx.URLParams.Keys {
				if v, err := url.PathUnescape(rctx.URLParams.Values[i]); err == nil && k != "*" {
					req.SetPathValue(k, v)
				}
			}
		}
		h.ServeHTTP(w, req)
	})
	r.mux.Method(method, pattern, InvokedBy(decoded, callers...))
}

// NotFound answers what no route matches.
func (r *Routes) NotFound(h http.HandlerFunc) { r.mux.NotFound(h) }

// ServeHTTP sets req.Pattern as a ServeMux would, for the HTTP metrics.
func (r *Routes) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rctx := chi.NewRouteContext()
	r.mux.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), chi.RouteCtxKey, rctx)))
	if p := rctx.RoutePattern(); p != "" && !strings.HasSuffix(p, "/*") {
		req.Pattern = req.Method + " " + p
	}
}

// anyMethod is every method chi routes.
var anyMethod = []string{http.MethodConnect, http.MethodDelete, http.MethodGet, http.MethodHead,
	http.MethodOptions, http.MethodPatch, http.MethodPost, http.MethodPut, http.MethodTrace}

// Patterns lets a test fail for a route added without a refusal test.
func (r *Routes) Patterns() []string {
	methods := map[string][]string{}
	_ = chi.Walk(r.mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		methods[route] = append(methods[route], method)
		return nil
	})
	var out []string
	for route, ms := range methods {
		if anyOf(ms) {
			out = append(out, "* "+route)
			continue
		}
		for _, m := range ms {
			out = append(out, m+" "+route)
		}
	}
	slices.Sort(out)
	return out
}

// PatternOf names the route a request reaches, as Patterns does, or "".
func (r *Routes) PatternOf(method, target string) string {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return ""
	}
	route := r.mux.Find(chi.NewRouteContext(), method, u.Path)
	if route == "" {
		return ""
	}
	var ms []string
	for _, m := range anyMethod {
		if r.mux.Find(chi.NewRouteContext(), m, u.Path) == route {
			ms = append(ms, m)
		}
	}
	if anyOf(ms) {
		return "* " + route
	}
	return method + " " + route
}

func anyOf(methods []string) bool {
	for _, m := range anyMethod {
		if !slices.Contains(methods, m) {
			return false
		}
	}
	return true
}
