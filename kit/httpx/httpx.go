// Package httpx holds the small HTTP helpers every service uses.
package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/tracing"
)

// MaxBodyBytes bounds every JSON body we read.
const MaxBodyBytes = 64 << 10

// Decode rejects unknown fields, trailing data and oversized bodies.
func Decode[T any](r *http.Request) (T, error) {
	var v T
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.Contains(ct, "+json") {
		return v, errs.E(errs.Invalid, "Content-Type must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, errs.Wrap(BodyKind(err), err, "invalid JSON body: "+describeJSONError(err))
	}
	if dec.More() {
		return v, errs.E(errs.Invalid, "invalid JSON body: more than one JSON value")
	}
	return v, nil
}

// BodyKind is TooLarge when a limit cut the body, else Invalid.
func BodyKind(err error) errs.Kind {
	if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
		return errs.TooLarge
	}
	return errs.Invalid
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return fmt.Sprintf("body larger than %d bytes", MaxBodyBytes)
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be %s", typ.Field, typ.Type)
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	default:
		return "malformed"
	}
}

// NotFound is a mux's catch-all, so no path answers Go's plain-text page.
func NotFound(w http.ResponseWriter, r *http.Request) {
	WriteProblem(w, r, errs.E(errs.NotFound, "no such resource: %s %s", r.Method, r.URL.Path))
}

// OnlyMethods answers 405 with Allow. Register it for the bare path.
func OnlyMethods(allowed ...string) http.Handler {
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		WriteProblem(w, r, errs.E(errs.MethodNotAllowed, "%s is not allowed here; allowed: %s", r.Method, allow))
	})
}

// Encode writes v as JSON.
func Encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// ProblemTypeBase is followed by the error kind, a stable string to switch on.
const ProblemTypeBase = "https://vouchers.bank-abc.example/problems/"

// statusOf is the one place where an error kind becomes an HTTP status.
func statusOf(k errs.Kind) int {
	switch k {
	case errs.Invalid:
		return http.StatusBadRequest
	case errs.Unauthorized:
		return http.StatusUnauthorized
	case errs.Forbidden:
		return http.StatusForbidden
	case errs.NotFound:
		return http.StatusNotFound
	case errs.Conflict:
		return http.StatusConflict
	case errs.Unprocessable:
		return http.StatusUnprocessableEntity
	case errs.Unavailable:
		return http.StatusServiceUnavailable
	case errs.TooManyRequests:
		return http.StatusTooManyRequests
	case errs.MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case errs.TooLarge:
		return http.StatusRequestEntityTooLarge
	case errs.Internal:
		return http.StatusInternalServerError
	default: // a kind added to errs and not yet mapped
		return http.StatusInternalServerError
	}
}

// WriteError logs what the caller does not see.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	switch status := statusOf(errs.KindOf(err)); {
	case status == http.StatusServiceUnavailable:
		log.WarnContext(r.Context(), "request failed", "error", err, "path", r.URL.Path)
	case status >= 500:
		log.ErrorContext(r.Context(), "request failed", "error", err, "path", r.URL.Path)
	}
	WriteProblem(w, r, err)
}

// WriteProblem is WriteError without the log.
func WriteProblem(w http.ResponseWriter, r *http.Request, err error) {
	kind := errs.KindOf(err)
	status := statusOf(kind)
	if d := errs.RetryAfterOf(err); d > 0 {
		// Round up, so a retry never comes too soon.
		w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{
		Type:     ProblemTypeBase + kind.String(),
		Title:    http.StatusText(status),
		Status:   status,
		Detail:   errs.Public(err),
		Instance: r.URL.Path,
	})
}

type ctxKey struct{}

// RequestID returns the id Middleware put in ctx.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// WithRequestID sets ctx's request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// NewID is 16 random bytes in hex.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// RequestObserver records each request by its ServeMux pattern.
type RequestObserver interface {
	ObserveRequest(route, method string, status int, d time.Duration)
}

// UnmatchedRoute labels a request answered before any pattern matched.
const UnmatchedRoute = "unmatched"

// Observed configures Observe.
type Observed struct {
	Log *slog.Logger
	// Metrics may be nil.
	Metrics RequestObserver
	// TrustsTrace says whether to continue a request's traceparent. At a
	// public edge it refuses, so callers cannot pick our trace ids or force sampling.
	TrustsTrace func(*http.Request) bool
}

// Middleware is Observe without metrics.
func Middleware(log *slog.Logger, next http.Handler) http.Handler {
	return Observe(Observed{Log: log}, next)
}

// Observe gives each request an id and a span, and recovers, logs and counts it.
func Observe(o Observed, next http.Handler) http.Handler {
	log := o.Log
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if len(id) == 0 || len(id) > 64 || strings.ContainsFunc(id, func(c rune) bool { return c <= ' ' || c > '~' }) {
			id = NewID()
		}
		w.Header().Set("X-Request-Id", id)
		traceparent := r.Header.Get(tracing.Header)
		if o.TrustsTrace != nil && !o.TrustsTrace(r) {
			traceparent = ""
		}
		ctx, span := tracing.Serve(WithRequestID(r.Context(), id), r.Method+" "+r.URL.Path, traceparent)
		hush := new(atomic.Bool)
		r = r.WithContext(context.WithValue(ctx, quietKey{}, hush))
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				WriteError(rec, r, log, fmt.Errorf("panic: %v", p))
			}
			elapsed := time.Since(start)
			// Wrong if a handler in between copied r.
			route := r.Pattern
			if route == "" {
				route = UnmatchedRoute
			}
			if o.Metrics != nil {
				o.Metrics.ObserveRequest(route, r.Method, rec.status, elapsed)
			}
			span.End(r.Pattern, rec.status)
			level := slog.LevelInfo
			if quiet(r.URL.Path) || (hush.Load() && rec.status < http.StatusBadRequest) {
				level = slog.LevelDebug // probes, scrapes and cron ticks, every few seconds
			}
			log.Log(r.Context(), level, "http", "method", r.Method, "path", r.URL.Path,
				"status", rec.status, "duration_ms", elapsed.Milliseconds())
		}()
		next.ServeHTTP(rec, r)
	})
}

type quietKey struct{}

// Quiet logs the request at debug unless it fails. A cron tick calls it: the
// pass logs what it did, so a tick that found nothing to do says nothing.
func Quiet(ctx context.Context) {
	if hush, ok := ctx.Value(quietKey{}).(*atomic.Bool); ok {
		hush.Store(true)
	}
}

// quiet paths are called often by probes and daprd, so they log at debug.
func quiet(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasPrefix(path, "/dapr/")
}

// LogHandler adds request_id and trace_id from the record's context.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, rec slog.Record) error {
	if ctx != nil {
		if id := RequestID(ctx); id != "" {
			rec.AddAttrs(slog.String("request_id", id))
		}
		if tid := tracing.TraceID(ctx); tid != "" {
			rec.AddAttrs(slog.String("trace_id", tid))
		}
	}
	return h.Handler.Handle(ctx, rec)
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(as)}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name)}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Serve shuts down gracefully when ctx ends. ready may be nil.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	// ReadTimeout stops a client holding a connection by sending a byte at a time.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, IdleTimeout: 2 * time.Minute}
	if ready != nil {
		ready(ln.Addr())
	}
	log.Info("listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	}
}
