package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/testkit"
)

type fakeGateway struct {
	sent []string
	fail error
}

func (f *fakeGateway) Send(_ context.Context, id, _, _ string) error {
	if f.fail != nil {
		return f.fail
	}
	f.sent = append(f.sent, id)
	return nil
}

func TestRedeliveredMessageIsSentOnce(t *testing.T) {
	gw := &fakeGateway{}
	a := App{Log: daprx.Store[Sent]{Client: testkit.NewMemState(), Name: "sms-store"}, Gateway: gw, Now: time.Now}
	m := events.SendSMS{MessageID: "m1", PhoneNumber: "+84909123456", Text: "hello"}
	for range 3 {
		if err := a.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if len(gw.sent) != 1 {
		t.Fatalf("sent %d times", len(gw.sent))
	}
}

func TestFailingBindingIsRetriedAndIncompleteMessageDropped(t *testing.T) {
	gw := &fakeGateway{fail: errors.New("binding down")}
	a := App{Log: daprx.Store[Sent]{Client: testkit.NewMemState(), Name: "sms-store"}, Gateway: gw, Now: time.Now}
	if err := a.Send(context.Background(), events.SendSMS{MessageID: "m1", PhoneNumber: "+1", Text: "x"}); errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("err %v, want Unavailable (retry)", err)
	}
	if err := a.Send(context.Background(), events.SendSMS{MessageID: "m2"}); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("err %v, want Invalid (dead letter)", err)
	}
}

func TestSentMessagesAreCountedByKindOnce(t *testing.T) {
	m := metrics.NewSMS(prometheus.NewRegistry())
	a := App{Log: daprx.Store[Sent]{Client: testkit.NewMemState(), Name: "sms-store"}, Gateway: &fakeGateway{}, Now: time.Now, Metrics: m}
	for _, id := range []string{"voucher-r1", "voucher-r1", "phone-code-u1-1", "welcome-u1"} { // r1 redelivered
		if err := a.Send(context.Background(), events.SendSMS{MessageID: id, PhoneNumber: "+84909123456", Text: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	for kind, want := range map[string]float64{"voucher": 1, "phone_code": 1, "other": 1} {
		if got := testutil.ToFloat64(m.SentTotal.WithLabelValues(kind)); got != want {
			t.Errorf("%s: %v, want %v", kind, got, want)
		}
	}
	failing := App{Log: daprx.Store[Sent]{Client: testkit.NewMemState(), Name: "sms-store"}, Gateway: &fakeGateway{fail: errors.New("down")}, Now: time.Now, Metrics: m}
	_ = failing.Send(context.Background(), events.SendSMS{MessageID: "voucher-r2", PhoneNumber: "+84909123456", Text: "x"})
	if got := testutil.ToFloat64(m.SentTotal.WithLabelValues("voucher")); got != 1 {
		t.Fatalf("a failed send was counted: %v", got)
	}
}

// failingLog is a Log whose store is down.
type failingLog struct{}

func (failingLog) Get(context.Context, string) (Sent, string, bool, error) {
	return Sent{}, "", false, errs.E(errs.Unavailable, "state store unavailable")
}

func (failingLog) Insert(context.Context, string, Sent, *daprx.Event) error {
	return errs.E(errs.Unavailable, "state store unavailable")
}

func TestSentTellsWhetherAMessageWasSent(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := App{Log: daprx.Store[Sent]{Client: testkit.NewMemState(), Name: "sms-store"}, Gateway: &fakeGateway{}, Now: func() time.Time { return at }}
	ctx := context.Background()
	if _, found, err := a.Sent(ctx, "voucher-r1"); err != nil || found {
		t.Fatalf("before the send: found %v, err %v", found, err)
	}
	if err := a.Send(ctx, events.SendSMS{MessageID: "voucher-r1", PhoneNumber: "+84909123456", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	s, found, err := a.Sent(ctx, "voucher-r1")
	if err != nil || !found || s.MessageID != "voucher-r1" || !s.SentAt.Equal(at) {
		t.Fatalf("after the send: %+v, found %v, err %v", s, found, err)
	}
	if _, found, err := a.Sent(ctx, "voucher-r2"); err != nil || found {
		t.Fatalf("another message: found %v, err %v", found, err)
	}
}

func TestSentRefusesEmptyAndOversizedIDsAndReportsAStoreDown(t *testing.T) {
	a := App{Log: daprx.Store[Sent]{Client: testkit.NewMemState(), Name: "sms-store"}, Gateway: &fakeGateway{}, Now: time.Now}
	ctx := context.Background()
	for _, id := range []string{"", strings.Repeat("x", MaxMessageIDLen+1), strings.Repeat("é", MaxMessageIDLen+1)} {
		if _, found, err := a.Sent(ctx, id); errs.KindOf(err) != errs.Invalid || found {
			t.Errorf("id of %d characters: found %v, err %v, want Invalid", len([]rune(id)), found, err)
		}
	}
	for _, id := range []string{strings.Repeat("x", MaxMessageIDLen), strings.Repeat("é", MaxMessageIDLen)} {
		if _, found, err := a.Sent(ctx, id); err != nil || found {
			t.Errorf("id of %d characters: found %v, err %v, want not found", len([]rune(id)), found, err)
		}
	}
	down := App{Log: failingLog{}, Gateway: &fakeGateway{}, Now: time.Now}
	if _, found, err := down.Sent(ctx, "voucher-r1"); errs.KindOf(err) != errs.Unavailable || found {
		t.Fatalf("store down: found %v, err %v, want Unavailable", found, err)
	}
}
