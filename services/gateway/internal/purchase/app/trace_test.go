package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/kit/tracing"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// tracedPublisher records the trace each event was published in.
type tracedPublisher struct{ traces []string }

func (p *tracedPublisher) Publish(ctx context.Context, _, _ string, _ any) error {
	p.traces = append(p.traces, tracing.Traceparent(ctx))
	return nil
}

// TestRedriveContinuesThePurchasesTrace: a request-code sent again by the
// sweep is in the trace the purchase was accepted in, not the sweep's.
func TestRedriveContinuesThePurchasesTrace(t *testing.T) {
	const purchaseTrace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	p, clock := metricsSetup(nil)
	sc, _ := tracing.Parse(purchaseTrace)
	accepted := tracing.With(context.Background(), sc)
	req, _, err := p.Create(accepted, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber}, "")
	require.NoError(t, err)
	mem := p.Requests.(daprx.Store[domain.Request]).Client.(*testkit.MemState)
	sent := mem.Events(events.TopicRequestCode)
	require.Len(t, sent, 1, "request-code published")
	published := sent[0].Meta["cloudevent.traceparent"]
	assert.Equal(t, traceID(purchaseTrace), traceID(published), "request-code published with %v", sent)
	assert.NotEqual(t, purchaseTrace, published, "published in the purchase's own span")
	pub := &tracedPublisher{}
	sched := daprx.NewSchedule(testkit.NewMemState(), "gateway-store", "redrive", "gateway-a", time.Minute)
	sched.Now = clock.now
	r := Redrive{Schedule: sched, Requests: p.Requests, Events: pub, After: time.Minute}
	sweep, _ := tracing.Serve(context.Background(), "POST /cron/redrive", "")
	resent, err := r.resend(sweep, req, nil)
	require.NoError(t, err, "resend")
	require.True(t, resent, "resend")
	assert.Equal(t, []string{published}, pub.traces, "sent again in")
}

// traceID is the trace id of a traceparent.
func traceID(traceparent string) string {
	if len(traceparent) < 35 {
		return ""
	}
	return traceparent[3:35]
}
