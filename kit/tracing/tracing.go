// Package tracing keeps the W3C trace context (https://www.w3.org/TR/trace-context/)
// of the work at hand in a context.Context, so that every log line and every
// call to the sidecar carries the same trace id.
//
// Our apps record no spans of their own: daprd does, when tracing is on. An
// app continues the traceparent it was given, unchanged, and hands it on
// (gRPC metadata and HTTP headers to its sidecar, outbox metadata, the
// CloudEvent of a direct publish). Only where nothing came in (a customer's
// request, a cron tick with tracing off) does it start a trace.
package tracing

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
)

// Header is the name of the W3C header (and of the gRPC metadata key and
// the CloudEvent attribute) that carries the trace context.
const Header = "traceparent"

// Context is one W3C trace context: the trace, the parent span, the flags.
type Context struct {
	TraceID [16]byte
	SpanID  [8]byte
	Flags   byte
}

const flagSampled = 0x01

// Valid tells whether c names a trace (W3C: all-zero ids are invalid).
func (c Context) Valid() bool {
	return c.TraceID != [16]byte{} && c.SpanID != [8]byte{}
}

// Sampled tells whether the trace's root asked for it to be recorded.
func (c Context) Sampled() bool { return c.Flags&flagSampled != 0 }

// TraceIDString is the trace id in lowercase hex, as logs carry it.
func (c Context) TraceIDString() string { return hex.EncodeToString(c.TraceID[:]) }

// String is the traceparent header value: version 00, ids, flags.
func (c Context) String() string {
	var b [55]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], c.TraceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], c.SpanID[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{c.Flags})
	return string(b[:])
}

// Parse reads a traceparent value. It accepts version 00 exactly and, as
// the specification asks, later versions by their first four fields.
func Parse(s string) (Context, bool) {
	var c Context
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return c, false
	}
	version, ok := hexByte(s[0:2])
	if !ok || version == 0xff || (version == 0 && len(s) != 55) || (version > 0 && len(s) > 55 && s[55] != '-') {
		return c, false
	}
	if !hexInto(c.TraceID[:], s[3:35]) || !hexInto(c.SpanID[:], s[36:52]) {
		return c, false
	}
	if c.Flags, ok = hexByte(s[53:55]); !ok || !c.Valid() {
		return Context{}, false
	}
	return c, true
}

// hexInto decodes lowercase hex only: W3C refuses uppercase.
func hexInto(dst []byte, s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}

func hexByte(s string) (byte, bool) {
	var b [1]byte
	ok := hexInto(b[:], s)
	return b[0], ok
}

// New starts a trace: random trace and span ids. sampleRate (0 to 1) is
// the chance that the trace is marked sampled. The root decides for the
// whole trace (daprd's sampler follows its parent), so the rate is the one
// daprd is configured with (TRACING_SAMPLING_RATE).
func New(sampleRate float64) Context {
	var c Context
	for !c.Valid() {
		_, _ = rand.Read(c.TraceID[:])
		_, _ = rand.Read(c.SpanID[:])
	}
	if sampleRate >= 1 || sampleRate > 0 && sampledByRatio(c.TraceID, sampleRate) {
		c.Flags = flagSampled
	}
	return c
}

// sampledByRatio decides as OpenTelemetry's TraceIDRatioBased sampler does
// (what daprd uses): by the trace id's lower 8 bytes.
func sampledByRatio(id [16]byte, rate float64) bool {
	bound := uint64(rate * (1 << 63))
	return binary.BigEndian.Uint64(id[8:16])>>1 < bound
}

// current is what a context holds: the trace, and whether it was started
// here (nothing came in), in which case Adopt may replace it.
type current struct {
	tc    Context
	local bool
}

// slot is shared by a request's handlers, so that one further in (the topic
// adapter, which reads the CloudEvent) can tell the request's log line
// which trace it belonged to.
type slot struct{ p atomic.Pointer[current] }

type ctxKey struct{}

func slotOf(ctx context.Context) *slot {
	s, _ := ctx.Value(ctxKey{}).(*slot)
	return s
}

// Continue returns ctx with the trace of traceparent when it is valid, or
// with a new trace (New(sampleRate)) when it is missing or malformed.
func Continue(ctx context.Context, traceparent string, sampleRate float64) (context.Context, Context) {
	cur := &current{}
	if tc, ok := Parse(traceparent); ok {
		cur.tc = tc
	} else {
		cur.tc, cur.local = New(sampleRate), true
	}
	s := &slot{}
	s.p.Store(cur)
	return context.WithValue(ctx, ctxKey{}, s), cur.tc
}

// With returns ctx carrying tc, whatever ctx carried before: for work that
// belongs to another trace than the request it runs in (a reconciler pass
// over many orders, each with the trace of its purchase).
func With(ctx context.Context, tc Context) context.Context {
	s := &slot{}
	s.p.Store(&current{tc: tc})
	return context.WithValue(ctx, ctxKey{}, s)
}

// Adopt makes traceparent the trace of ctx when ctx's trace was started
// here for want of one, and tells whether it did. An event delivered by a
// sidecar with tracing off comes without a traceparent header, but its
// CloudEvent carries the publisher's: that one is the event's trace. The
// change is seen by everything holding ctx, the request's log line too.
func Adopt(ctx context.Context, traceparent string) bool {
	s := slotOf(ctx)
	if s == nil {
		return false
	}
	tc, ok := Parse(traceparent)
	if !ok {
		return false
	}
	for {
		old := s.p.Load()
		if old != nil && !old.local {
			return false
		}
		if s.p.CompareAndSwap(old, &current{tc: tc}) {
			return true
		}
	}
}

// From returns the trace of ctx, if it has one.
func From(ctx context.Context) (Context, bool) {
	if s := slotOf(ctx); s != nil {
		if cur := s.p.Load(); cur != nil {
			return cur.tc, true
		}
	}
	return Context{}, false
}

// Traceparent is the traceparent value of ctx's trace, "" without one.
func Traceparent(ctx context.Context) string {
	if tc, ok := From(ctx); ok {
		return tc.String()
	}
	return ""
}

// TraceID is ctx's trace id in hex, "" without one.
func TraceID(ctx context.Context) string {
	if tc, ok := From(ctx); ok {
		return tc.TraceIDString()
	}
	return ""
}
