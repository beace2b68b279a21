package tracing

import (
	"context"
	"strings"
	"sync"
	"testing"
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
			if ok != tt.ok {
				t.Fatalf("Parse(%q) ok=%v, want %v", tt.in, ok, tt.ok)
			}
			if ok && tc.TraceIDString() != "4bf92f3577b34da6a3ce929d0e0e4736" {
				t.Fatalf("trace id %s", tc.TraceIDString())
			}
		})
	}
	tc, _ := Parse(sample)
	if tc.String() != sample || !tc.Sampled() {
		t.Fatalf("round trip %s sampled=%v", tc.String(), tc.Sampled())
	}
}

func TestNewIsValidAndFollowsTheRate(t *testing.T) {
	sampled := 0
	for range 2000 {
		tc := New(0.5)
		if back, ok := Parse(tc.String()); !ok || back != tc {
			t.Fatalf("new trace %s does not parse back", tc)
		}
		if tc.Sampled() {
			sampled++
		}
	}
	// Half of 2000, give or take far more than chance allows.
	if sampled < 800 || sampled > 1200 {
		t.Fatalf("%d of 2000 sampled at rate 0.5", sampled)
	}
	if New(0).Sampled() || !New(1).Sampled() {
		t.Fatal("rates 0 and 1 must never and always sample")
	}
}

func TestContinueKeepsAValidTraceAndStartsOneOtherwise(t *testing.T) {
	ctx, tc := Continue(context.Background(), sample, 0)
	if tc.String() != sample || Traceparent(ctx) != sample || TraceID(ctx) != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("continued %s, ctx %s", tc, Traceparent(ctx))
	}
	ctx, tc = Continue(context.Background(), "garbage", 0)
	if !tc.Valid() || Traceparent(ctx) != tc.String() || tc.String() == sample {
		t.Fatalf("started %s, ctx %s", tc, Traceparent(ctx))
	}
	if TraceID(context.Background()) != "" {
		t.Fatal("a bare context has no trace")
	}
}

func TestAdoptReplacesOnlyATraceStartedHere(t *testing.T) {
	const other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
	ctx, _ := Continue(context.Background(), "", 0)
	seenByOuter := ctx // the middleware keeps the ctx it made
	inner := context.WithValue(ctx, struct{}{}, "handler")
	if !Adopt(inner, other) || Traceparent(seenByOuter) != other {
		t.Fatalf("adopt: outer sees %s", Traceparent(seenByOuter))
	}
	if Adopt(inner, sample) || Traceparent(seenByOuter) != other {
		t.Fatal("a trace that came in must not be replaced")
	}
	ctx, _ = Continue(context.Background(), sample, 0)
	if Adopt(ctx, other) || Traceparent(ctx) != sample {
		t.Fatal("an incoming traceparent wins over the CloudEvent's")
	}
	if Adopt(context.Background(), other) {
		t.Fatal("nothing to adopt into")
	}
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
			if Traceparent(ctx) != tc.String() {
				t.Errorf("child %s, want %s", Traceparent(ctx), tc)
			}
		}()
	}
	wg.Wait()
	if Traceparent(parent) != sample {
		t.Fatalf("parent changed to %s", Traceparent(parent))
	}
}
