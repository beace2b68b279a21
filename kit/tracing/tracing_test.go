package tracing

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"spec_example_parses", sample, true},
		{"not_sampled_parses", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"future_version_with_more_fields_parses", "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds", true},
		{"version_00_with_more_is_refused", sample + "-x", false},
		{"version_ff_is_refused", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"uppercase_is_refused", strings.ToUpper(sample), false},
		{"zero_trace_id_is_refused", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"zero_span_id_is_refused", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"short_is_refused", sample[:54], false},
		{"empty_is_refused", "", false},
		{"wrong_separator_is_refused", strings.Replace(sample, "-", "_", 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, ok := Parse(tt.in)
			require.Equal(t, tt.ok, ok, "Parse(%q) ok", tt.in)
			if ok {
				assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", tc.TraceIDString(), "trace id")
			}
		})
	}
	tc, _ := Parse(sample)
	assert.Equal(t, sample, tc.String(), "round trip")
	assert.True(t, tc.Sampled(), "round trip sampled")
}

func TestNewIsValidAndFollowsTheRate(t *testing.T) {
	sampled := 0
	for range 2000 {
		tc := New(0.5)
		back, ok := Parse(tc.String())
		require.True(t, ok, "new trace %s does not parse", tc)
		require.Equal(t, tc, back, "new trace %s does not parse back", tc)
		if tc.Sampled() {
			sampled++
		}
	}
	// Half of 2000, give or take far more than chance allows.
	assert.InDelta(t, 1000, sampled, 200, "of 2000 sampled at rate 0.5")
	assert.False(t, New(0).Sampled(), "rate 0 must never sample")
	assert.True(t, New(1).Sampled(), "rate 1 must always sample")
}

func TestContinueKeepsAValidTraceAndStartsOneOtherwise(t *testing.T) {
	ctx, tc := Continue(context.Background(), sample, 0)
	assert.Equal(t, sample, tc.String(), "continued")
	assert.Equal(t, sample, Traceparent(ctx), "continued, ctx")
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", TraceID(ctx), "continued, ctx's trace id")
	ctx, tc = Continue(context.Background(), "garbage", 0)
	assert.True(t, tc.Valid(), "started %s", tc)
	assert.Equal(t, tc.String(), Traceparent(ctx), "started, ctx")
	assert.NotEqual(t, sample, tc.String(), "started a new trace")
	assert.Empty(t, TraceID(context.Background()), "a bare context has no trace")
}

// handlerKey is a context key of a handler's own.
type handlerKey struct{}

func TestAdoptReplacesOnlyATraceStartedHere(t *testing.T) {
	const other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
	ctx, _ := Continue(context.Background(), "", 0)
	seenByOuter := ctx // the middleware keeps the ctx it made
	inner := context.WithValue(ctx, handlerKey{}, "handler")
	assert.True(t, Adopt(inner, other), "adopt")
	assert.Equal(t, other, Traceparent(seenByOuter), "adopt: outer sees")
	assert.False(t, Adopt(inner, sample), "a trace that came in must not be replaced")
	assert.Equal(t, other, Traceparent(seenByOuter), "a trace that came in must not be replaced")
	ctx, _ = Continue(context.Background(), sample, 0)
	assert.False(t, Adopt(ctx, other), "an incoming traceparent wins over the CloudEvent's")
	assert.Equal(t, sample, Traceparent(ctx), "an incoming traceparent wins over the CloudEvent's")
	assert.False(t, Adopt(context.Background(), other), "nothing to adopt into")
}

func TestWithIsolatesFanOut(t *testing.T) {
	parent, _ := Continue(context.Background(), sample, 0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc := New(1)
			ctx := With(parent, tc)
			assert.Equal(t, tc.String(), Traceparent(ctx), "child")
		}()
	}
	wg.Wait()
	assert.Equal(t, sample, Traceparent(parent), "parent changed")
}
