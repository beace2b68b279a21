package app

import (
	"context"
	"testing"
	"time"

	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/kit/tracing"
	"github.com/bankabc/vouchers/kit/vpsapi"
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
	purchase, _ := tracing.Continue(context.Background(), purchaseTrace, 0)

	t.Run("by_callback", func(t *testing.T) {
		c, mem := newClock(), testkit.NewMemState()
		a := setup(&fakeProvider{request: ack}, c, "a", mem)
		ev.RequestedAt = c.now()
		if err := a.HandleRequestCode(purchase, ev); err != nil {
			t.Fatal(err)
		}
		callback, _ := tracing.Continue(context.Background(), "", 0) // the provider sent none
		cb := vpsapi.Callback{RequestID: "r1", CodeVerifier: verifier, VoucherCode: "CODE", Status: events.StatusSuccess}
		if err := a.HandleCallback(callback, cb); err != nil {
			t.Fatal(err)
		}
		if got := publishedTrace(mem, 0); got != purchaseTrace {
			t.Fatalf("receive-code published in %q", got)
		}
		if tracing.Traceparent(callback) != purchaseTrace {
			t.Fatal("the callback's request did not take the purchase's trace")
		}
	})

	t.Run("by_reconciler", func(t *testing.T) {
		c, mem := newClock(), testkit.NewMemState()
		p := &fakeProvider{request: unavailable, status: func(string) (ProviderStatus, error) {
			return ProviderStatus{Found: true, Status: events.StatusSuccess, VoucherCode: "CODE"}, nil
		}}
		a := setup(p, c, "a", mem)
		ev.RequestedAt = c.now()
		if err := a.HandleRequestCode(purchase, ev); err != nil {
			t.Fatal(err)
		}
		c.add(3 * time.Second)
		tick, _ := tracing.Continue(context.Background(), "", 0)
		if s, err := a.Reconcile(tick, 4); err != nil || s.Completed != 1 {
			t.Fatalf("%+v %v", s, err)
		}
		if got := publishedTrace(mem, 0); got != purchaseTrace {
			t.Fatalf("receive-code published in %q", got)
		}
		if tracing.Traceparent(tick) == purchaseTrace {
			t.Fatal("one order's trace became the whole pass's")
		}
	})
}
