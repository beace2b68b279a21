package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/api/vpsapi"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/kit/tracing"
	"github.com/bankabc/vouchers/services/voucher-int/internal/domain"
)

const purchaseTrace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"

// publishedTrace is the traceparent the i-th receive-code was published in.
func publishedTrace(mem *testkit.MemState, i int) string {
	sent := mem.Events(events.TopicReceiveCode)
	if i >= len(sent) {
		return ""
	}
	return sent[i].Meta["cloudevent.traceparent"]
}

// TestLateCodesArePublishedInThePurchasesTrace: the callback and the
// reconciler come in traces of their own (or none); the receive-code they
// publish continues the purchase's, which the order keeps.
func TestLateCodesArePublishedInThePurchasesTrace(t *testing.T) {
	ev := events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123450"}
	sc, _ := tracing.Parse(purchaseTrace)
	purchase := tracing.With(context.Background(), sc)

	t.Run("by_callback", func(t *testing.T) {
		c, mem := newClock(), testkit.NewMemState()
		a := setup(&fakeProvider{request: ack}, c, "a", mem)
		ev.RequestedAt = c.now()
		require.NoError(t, a.HandleRequestCode(purchase, ev))
		callback, _ := tracing.Serve(context.Background(), "POST /callback", "") // the provider sent none
		cb := vpsapi.Callback{RequestID: "r1", CodeVerifier: verifier, VoucherCode: "CODE", Status: events.StatusSuccess}
		require.NoError(t, a.HandleCallback(callback, cb))
		assert.Equal(t, traceID(purchaseTrace), traceID(publishedTrace(mem, 0)), "the trace the receive-code was published in")
		assert.Equal(t, traceID(purchaseTrace), tracing.TraceID(callback), "the callback's request did not take the purchase's trace")
	})

	t.Run("by_reconciler", func(t *testing.T) {
		c, mem := newClock(), testkit.NewMemState()
		p := &fakeProvider{request: unavailable, status: func(string) (domain.ProviderStatus, error) {
			return domain.ProviderStatus{Found: true, Status: events.StatusSuccess, VoucherCode: "CODE"}, nil
		}}
		a := setup(p, c, "a", mem)
		ev.RequestedAt = c.now()
		require.NoError(t, a.HandleRequestCode(purchase, ev))
		c.add(3 * time.Second)
		tick, _ := tracing.Serve(context.Background(), "POST /cron/reconcile", "")
		s, err := a.Reconcile(tick, 4)
		require.NoError(t, err)
		assert.Equal(t, 1, s.Completed, "%+v", s)
		assert.Equal(t, traceID(purchaseTrace), traceID(publishedTrace(mem, 0)), "the trace the receive-code was published in")
		assert.NotEqual(t, traceID(purchaseTrace), tracing.TraceID(tick), "one order's trace became the whole pass's")
	})
}

// traceID is the trace id of a traceparent.
func traceID(traceparent string) string {
	if len(traceparent) < 35 {
		return ""
	}
	return traceparent[3:35]
}
