// Package httpx holds the small HTTP helpers every service uses: JSON decode
// and encode, RFC 9457 problem details, request ids and trace context, a
// log handler that names them, and a server that stops on context cancel.
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
	"time"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/tracing"
)

// MaxBodyBytes bounds every JSON body we read.
const MaxBodyBytes = 64 << 10

// Decode reads one JSON value of type T from the request body. Unknown fields,
// trailing data and oversized bodies are Invalid errors.
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

// BodyKind is the kind of a request body that could not be read or
// decoded: TooLarge when a limit cut it (a *http.MaxBytesError in err's
// chain), Invalid otherwise.
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

// NotFound answers problem+json 404: a mux's catch-all ("/"), so that no
// path answers Go's plain-text page.
func NotFound(w http.ResponseWriter, r *http.Request) {
	WriteProblem(w, r, errs.E(errs.NotFound, "no such resource: %s %s", r.Method, r.URL.Path))
}

// OnlyMethods answers problem+json 405 with Allow: register it for a path
// without a method, beside the path's routes with theirs.
func OnlyMethods(allowed ...string) http.Handler {
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		WriteProblem(w, r, errs.E(errs.MethodNotAllowed, "%s is not allowed here; allowed: %s", r.Method, allow))
	})
}

// Encode writes v as JSON with the given status.
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

// ProblemTypeBase prefixes every problem type; the suffix is the error kind,
// so a client can switch on a stable string.
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
	default:
		return http.StatusInternalServerError
	}
}

// WriteError answers err as problem+json and logs what the caller does not
// see: failures of ours as errors, unavailable dependencies as warnings.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	switch status := statusOf(errs.KindOf(err)); {
	case status == http.StatusServiceUnavailable:
		log.WarnContext(r.Context(), "request failed", "error", err, "path", r.URL.Path)
	case status >= 500:
		log.ErrorContext(r.Context(), "request failed", "error", err, "path", r.URL.Path)
	}
	WriteProblem(w, r, err)
}

// WriteProblem answers err as problem+json without logging it.
func WriteProblem(w http.ResponseWriter, r *http.Request, err error) {
	kind := errs.KindOf(err)
	status := statusOf(kind)
	if d := errs.RetryAfterOf(err); d > 0 {
		// Whole seconds, rounded up: never invite a retry that comes too soon.
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

// RequestID returns the request id that Middleware put in the context.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// WithRequestID returns ctx carrying id as its request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// NewID returns 16 random bytes in hex.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// RequestObserver records each request served (kit/metrics.HTTP). route is
// the ServeMux pattern that matched, UnmatchedRoute when none did.
type RequestObserver interface {
	ObserveRequest(route, method string, status int, d time.Duration)
}

// UnmatchedRoute labels a request answered before any ServeMux pattern
// matched it (a 503 while starting, a shed request, a 404).
const UnmatchedRoute = "unmatched"

// Observed are the options of Observe.
type Observed struct {
	Log *slog.Logger
	// Metrics, if not nil, records every request.
	Metrics RequestObserver
	// SampleRate is the chance that a trace started here is sampled, for
	// an app that has not set up tracing itself (tracing.Ensure).
	SampleRate float64
	// TrustsTrace, if not nil, tells whether a request's traceparent may be
	// continued. A request it refuses (one from outside, at a public edge)
	// starts a trace here, sampled at the app's rate (tracing.Setup): a
	// caller cannot choose the trace id the system logs under, nor force
	// sampling.
	TrustsTrace func(*http.Request) bool
}

// Middleware is Observe without metrics.
func Middleware(log *slog.Logger, next http.Handler) http.Handler {
	return Observe(Observed{Log: log}, next)
}

// Observe gives each request an id (from X-Request-Id when it is sane) and
// a server span (in its traceparent's trace when o.TrustsTrace allows, or a
// new one), echoes the id, recovers panics
// as 500 problems, logs one line per request and records it in o.Metrics.
// Log lines written with the request's context carry both ids (LogHandler).
func Observe(o Observed, next http.Handler) http.Handler {
	tracing.Ensure(o.SampleRate)
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
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				WriteError(rec, r, log, fmt.Errorf("panic: %v", p))
			}
			elapsed := time.Since(start)
			// The ServeMux sets the pattern on the request it was given,
			// which is r unless a handler in between made a copy.
			route := r.Pattern
			if route == "" {
				route = UnmatchedRoute
			}
			if o.Metrics != nil {
				o.Metrics.ObserveRequest(route, r.Method, rec.status, elapsed)
			}
			span.End(r.Pattern, rec.status)
			level := slog.LevelInfo
			if quiet(r.URL.Path) {
				level = slog.LevelDebug // probes and scrapes, every few seconds
			}
			log.Log(r.Context(), level, "http", "method", r.Method, "path", r.URL.Path,
				"status", rec.status, "duration_ms", elapsed.Milliseconds())
		}()
		next.ServeHTTP(rec, r)
	})
}

// quiet tells the paths that probes, scrapers and daprd's start-up call
// often: their lines are logged at debug level.
func quiet(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasPrefix(path, "/dapr/")
}

// LogHandler adds request_id and trace_id, taken from the record's
// context, to every record h handles: a line logged with a request's
// context (log.InfoContext(ctx, …)) names its request and its trace
// without saying so.
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

// Serve listens on addr and serves h until ctx is cancelled, then shuts down
// gracefully. ready, if not nil, is called once the port is open.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	// A request must arrive whole in ReadTimeout: a client sending its
	// body a byte at a time holds a connection that long, not for ever.
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
