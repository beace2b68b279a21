// Package tracing puts the apps' work in OpenTelemetry traces, parented to
// daprd's spans. Outbox records and CloudEvents carry the traceparent too.
// Without an OTLP endpoint no span is exported, but trace ids still reach
// every log line and call.
package tracing

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Header is also the gRPC metadata key and the CloudEvent attribute.
const Header = "traceparent"

const scope = "github.com/bankabc/vouchers/kit/tracing"

var propagator = propagation.TraceContext{}

// provider before Setup still makes trace ids, unlike the global no-op one.
var provider atomic.Pointer[sdktrace.TracerProvider]

func init() {
	provider.Store(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample()))))
}

func tracer() trace.Tracer { return provider.Load().Tracer(scope) }

// Setup samples as daprd does: new traces at its rate, others as their parent.
// Spans are exported only when an OTEL_EXPORTER_OTLP_* endpoint is set.
func Setup(ctx context.Context, getenv func(string) string, sampleRate float64) (shutdown func(context.Context) error, err error) {
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(sampleRate))),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", serviceName(getenv)))),
	}
	exporting := getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	if exporting && getenv("OTEL_TRACES_EXPORTER") != "none" {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	provider.Store(tp)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator)
	return tp.Shutdown, nil
}

func serviceName(getenv func(string) string) string {
	for _, k := range []string{"OTEL_SERVICE_NAME", "APP_ID"} {
		if v := getenv(k); v != "" {
			return v
		}
	}
	return filepath.Base(os.Args[0])
}

// Start starts a span; the caller ends it.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return tracer().Start(trace.ContextWithSpanContext(ctx, From(ctx)), name, trace.WithAttributes(attrs...))
}

// StartClient is Start for a call to another party.
func StartClient(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return tracer().Start(trace.ContextWithSpanContext(ctx, From(ctx)), name,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// End marks span failed when err is not nil.
func End(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Served is kept in ctx's slot, not as ctx's span, because Adopt replaces it.
type Served struct {
	mu    sync.Mutex
	span  trace.Span
	name  string
	local bool         // started here: nothing valid came in
	first trace.SpanID // the span Serve put in the request's ctx
}

type ctxKey struct{}

func servedOf(ctx context.Context) *Served {
	s, _ := ctx.Value(ctxKey{}).(*Served)
	return s
}

// Serve starts a server span, a new root if traceparent is invalid.
func Serve(ctx context.Context, name, traceparent string) (context.Context, *Served) {
	s := &Served{name: name}
	sc, ok := Parse(traceparent)
	if ok {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	} else {
		ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{}) // no parent: a new trace
		s.local = true
	}
	ctx, s.span = tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
	s.first = s.span.SpanContext().SpanID()
	return context.WithValue(ctx, ctxKey{}, s), s
}

// Span is the current server span.
func (s *Served) Span() trace.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.span
}

// End names the span by its route.
func (s *Served) End(route string, status int) {
	span := s.Span()
	if route != "" {
		span.SetName(route)
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// Adopt moves a request into traceparent's trace. A sidecar with tracing off
// sends no header, but the CloudEvent carries the publisher's trace.
func Adopt(ctx context.Context, traceparent string) (context.Context, bool) {
	s := servedOf(ctx)
	if s == nil {
		return ctx, false
	}
	sc, ok := Parse(traceparent)
	if !ok {
		return ctx, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.local {
		return ctx, false
	}
	ctx, s.span = tracer().Start(trace.ContextWithRemoteSpanContext(ctx, sc), s.name, trace.WithSpanKind(trace.SpanKindServer))
	s.local = false
	return ctx, true
}

// From sees through a span Adopt replaced.
func From(ctx context.Context) trace.SpanContext {
	sc := trace.SpanContextFromContext(ctx)
	if s := servedOf(ctx); s != nil && sc.SpanID() == s.first {
		return s.Span().SpanContext()
	}
	return sc
}

// With lets a reconciler work on each order in the trace of its purchase.
func With(ctx context.Context, sc trace.SpanContext) context.Context {
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// Parse reads a traceparent.
func Parse(traceparent string) (trace.SpanContext, bool) {
	if traceparent == "" {
		return trace.SpanContext{}, false
	}
	ctx := propagator.Extract(context.Background(), propagation.MapCarrier{Header: traceparent})
	sc := trace.SpanContextFromContext(ctx)
	return sc, sc.IsValid()
}

// Traceparent is "" without a span.
func Traceparent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagator.Inject(trace.ContextWithSpanContext(ctx, From(ctx)), c)
	return c[Header]
}

// TraceID is in hex, "" without one.
func TraceID(ctx context.Context) string {
	if sc := From(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}
