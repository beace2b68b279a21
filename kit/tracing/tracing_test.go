package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
)

const (
	sample    = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	sampleID  = "4bf92f3577b34da6a3ce929d0e0e4736"
	other     = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
	otherID   = "0af7651916cd43dd8448eb211c80319c"
	noTraceID = ""
)

func TestParseRoundTrips(t *testing.T) {
	sc, ok := Parse(sample)
	require.True(t, ok)
	assert.Equal(t, sampleID, sc.TraceID().String())
	assert.True(t, sc.IsSampled())
	assert.Equal(t, sample, Traceparent(With(context.Background(), sc)), "round trip")
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		_, ok := Parse(bad)
		assert.False(t, ok, "%q", bad)
	}
}

func TestServeContinuesAValidTraceAndStartsOneOtherwise(t *testing.T) {
	ctx, s := Serve(context.Background(), "GET /x", sample)
	assert.Equal(t, sampleID, TraceID(ctx), "continued")
	sc := s.Span().SpanContext()
	assert.NotEqual(t, "00f067aa0ba902b7", sc.SpanID().String(), "the server span is a span of its own")
	assert.True(t, sc.IsSampled(), "the parent's decision is kept")
	ctx, _ = Serve(context.Background(), "GET /x", "garbage")
	assert.NotEmpty(t, TraceID(ctx), "started")
	assert.NotEqual(t, sampleID, TraceID(ctx), "started a new trace")
	assert.Equal(t, noTraceID, TraceID(context.Background()), "a bare context has no trace")
}

func TestSetupSamplesNewTracesAtTheRate(t *testing.T) {
	defer provider.Store(provider.Load())
	shutdown, err := Setup(context.Background(), func(string) string { return "" }, 1)
	require.NoError(t, err)
	defer func() { _ = shutdown(context.Background()) }()
	_, s := Serve(context.Background(), "GET /x", "")
	assert.True(t, s.Span().SpanContext().IsSampled(), "rate 1")
	_, s = Serve(context.Background(), "GET /x", other)
	assert.False(t, s.Span().SpanContext().IsSampled(), "an unsampled parent stays unsampled")
	_, err = Setup(context.Background(), func(string) string { return "" }, 0)
	require.NoError(t, err)
	_, s = Serve(context.Background(), "GET /x", "")
	assert.False(t, s.Span().SpanContext().IsSampled(), "rate 0")
}

// handlerKey is a context key of a handler's own.
type handlerKey struct{}

func TestAdoptReplacesOnlyATraceStartedHere(t *testing.T) {
	ctx, _ := Serve(context.Background(), "POST /events", "")
	seenByOuter := ctx // the middleware keeps the ctx it made
	inner := context.WithValue(ctx, handlerKey{}, "handler")
	adopted, ok := Adopt(inner, other)
	assert.True(t, ok, "adopt")
	assert.Equal(t, otherID, TraceID(seenByOuter), "adopt: outer sees")
	assert.Equal(t, otherID, TraceID(adopted), "adopt: handler")
	assert.Equal(t, From(seenByOuter), trace.SpanContextFromContext(adopted), "one server span")
	_, ok = Adopt(adopted, sample)
	assert.False(t, ok, "a trace that came in must not be replaced")
	assert.Equal(t, otherID, TraceID(seenByOuter), "a trace that came in must not be replaced")
	ctx, _ = Serve(context.Background(), "POST /events", sample)
	_, ok = Adopt(ctx, other)
	assert.False(t, ok, "an incoming traceparent wins over the CloudEvent's")
	assert.Equal(t, sampleID, TraceID(ctx), "an incoming traceparent wins over the CloudEvent's")
	_, ok = Adopt(context.Background(), other)
	assert.False(t, ok, "nothing to adopt into")
}

func TestWithIsolatesFanOut(t *testing.T) {
	parent, _ := Serve(context.Background(), "GET /x", sample)
	sc, _ := Parse(other)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ctx := With(parent, sc)
			assert.Equal(t, other, Traceparent(ctx), "child")
			child, span := Start(ctx, "work")
			defer span.End()
			assert.Equal(t, otherID, TraceID(child), "child's span")
		})
	}
	wg.Wait()
	assert.Equal(t, sampleID, TraceID(parent), "parent changed")
}

func TestSetupExportsOnlyWhenAnEndpointIsSet(t *testing.T) {
	defer provider.Store(provider.Load())
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
	}))
	defer srv.Close()
	export := func(env map[string]string) int32 {
		for k, v := range env {
			t.Setenv(k, v)
		}
		posts.Store(0)
		shutdown, err := Setup(context.Background(), os.Getenv, 1)
		require.NoError(t, err)
		_, span := Start(context.Background(), "work")
		span.End()
		require.NoError(t, shutdown(context.Background()))
		return posts.Load()
	}
	assert.Zero(t, export(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""}), "no endpoint")
	assert.Positive(t, export(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL}), "endpoint")
	assert.Zero(t, export(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_TRACES_EXPORTER": "none"}), "exporter none")
}
