// Package tracing puts the apps' work in OpenTelemetry traces, parented to
// the spans daprd sends in the W3C traceparent header.
//
// An incoming request gets a server span (Serve); work that matters gets a
// span of its own (Start). The trace goes on to the sidecar (gRPC metadata,
// HTTP headers), into outbox records and CloudEvents (Traceparent), and
// comes back from them (Parse, With). Spans are exported by OTLP/HTTP only
// when an endpoint is configured (Setup); without one they are recorded
// nowhere, but the trace ids still reach every log line and every call.
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

// Header is the name of the W3C header (and of the gRPC metadata key and
// the CloudEvent attribute) that carries the trace context.
const Header = "traceparent"

const scope = "github.com/bankabc/vouchers/kit/tracing"

var propagator = propagation.TraceContext{}

// provider is what spans start from. Before Setup (in tests) it samples
// nothing but still makes trace ids, which the global no-op one does not.
var provider atomic.Pointer[sdktrace.TracerProvider]

func init() {
	provider.Store(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample()))))
}

func tracer() trace.Tracer { return provider.Load().Tracer(scope) }

// Setup installs the app's tracer provider. A trace started here (nothing
// came in) is sampled at sampleRate (TRACING_SAMPLING_RATE, daprd's rate);
// one that came in keeps its parent's decision, as daprd's sampler does.
// Spans are exported by OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (the exporter reads these and
// the other OTEL_EXPORTER_OTLP_* variables itself), unless
// OTEL_TRACES_EXPORTER is "none". The service name is OTEL_SERVICE_NAME,
// else APP_ID. shutdown flushes what is left to export.
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
	setUp.Store(true)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator)
	return tp.Shutdown, nil
}

// setUp tells whether Setup ran.
var setUp atomic.Bool

// Ensure sets up tracing from the environment with sampleRate, unless it is
// set up already: for an app that serves HTTP without service.Run. Spans
// left unexported when such an app stops are lost.
func Ensure(sampleRate float64) {
	if setUp.Load() {
		return
	}
	if _, err := Setup(context.Background(), os.Getenv, sampleRate); err != nil {
		otel.Handle(err)
	}
}

func serviceName(getenv func(string) string) string {
	for _, k := range []string{"OTEL_SERVICE_NAME", "APP_ID"} {
		if v := getenv(k); v != "" {
			return v
		}
	}
	return filepath.Base(os.Args[0])
}

// Start starts a span of ctx's trace for one piece of work; the caller
// ends it.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return tracer().Start(trace.ContextWithSpanContext(ctx, From(ctx)), name, trace.WithAttributes(attrs...))
}

// StartClient is Start for a call to another party (the provider, a
// customer's webhook).
func StartClient(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return tracer().Start(trace.ContextWithSpanContext(ctx, From(ctx)), name,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// End ends span, marked failed by err when err is not nil.
func End(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Served is the server span of one incoming request. A topic handler may
// replace it (Adopt) while the request runs, so it is read through ctx's
// slot, not ctx's span.
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

// Serve starts the server span of an incoming request, a child of
// traceparent when it is valid, else the root of a new trace.
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

// Span is the request's server span now.
func (s *Served) Span() trace.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.span
}

// End names the span by the route that served the request, and ends it.
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

// Adopt makes traceparent the trace of ctx's request when that request
// started a trace of its own for want of one, and tells whether it did.
// An event delivered by a sidecar with tracing off comes without a
// traceparent header, but its CloudEvent carries the publisher's: that one
// is the event's trace. The request's server span starts again as a child
// of traceparent (the first one is never ended, so never exported), and
// everything holding the request's ctx sees the change, its log line too.
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

// From returns the span context of ctx's work: its span's, or the
// request's server span's when ctx still holds the one Adopt replaced.
func From(ctx context.Context) trace.SpanContext {
	sc := trace.SpanContextFromContext(ctx)
	if s := servedOf(ctx); s != nil && sc.SpanID() == s.first {
		return s.Span().SpanContext()
	}
	return sc
}

// With returns ctx in the trace of sc, whatever ctx was in: for work that
// belongs to another trace than the request it runs in (a reconciler pass
// over many orders, each in the trace of its purchase).
func With(ctx context.Context, sc trace.SpanContext) context.Context {
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// Parse reads a traceparent value.
func Parse(traceparent string) (trace.SpanContext, bool) {
	if traceparent == "" {
		return trace.SpanContext{}, false
	}
	ctx := propagator.Extract(context.Background(), propagation.MapCarrier{Header: traceparent})
	sc := trace.SpanContextFromContext(ctx)
	return sc, sc.IsValid()
}

// Traceparent is the traceparent value of ctx's span, "" without one.
func Traceparent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagator.Inject(trace.ContextWithSpanContext(ctx, From(ctx)), c)
	return c[Header]
}

// TraceID is ctx's trace id in hex, "" without one.
func TraceID(ctx context.Context) string {
	if sc := From(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}
