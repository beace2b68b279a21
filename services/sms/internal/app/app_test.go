package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/sms/internal/adapters"
	"github.com/bankabc/vouchers/services/sms/internal/domain"
)

type fakeSender struct {
	sent []string
	fail error
}

func (f *fakeSender) Send(_ context.Context, id, _, _ string) error {
	if f.fail != nil {
		return f.fail
	}
	f.sent = append(f.sent, id)
	return nil
}

func TestRedeliveredMessageIsSentOnce(t *testing.T) {
	gw := &fakeSender{}
	a := App{Sent: adapters.NewSentStore(testkit.NewMemState(), "sms-store"), Sender: gw, Now: time.Now}
	m := events.SendSMS{MessageID: "m1", PhoneNumber: "+84909123456", Text: "hello"}
	for range 3 {
		require.NoError(t, a.Send(context.Background(), m))
	}
	assert.Len(t, gw.sent, 1, "times sent")
}

func TestFailingBindingIsRetriedAndIncompleteMessageDropped(t *testing.T) {
	gw := &fakeSender{fail: errors.New("binding down")}
	a := App{Sent: adapters.NewSentStore(testkit.NewMemState(), "sms-store"), Sender: gw, Now: time.Now}
	err := a.Send(context.Background(), events.SendSMS{MessageID: "m1", PhoneNumber: "+1", Text: "x"})
	assert.Equal(t, errs.Unavailable, errs.KindOf(err), "err %v, want Unavailable (retry)", err)
	err = a.Send(context.Background(), events.SendSMS{MessageID: "m2"})
	assert.Equal(t, errs.Invalid, errs.KindOf(err), "err %v, want Invalid (dead letter)", err)
}

func TestSentMessagesAreCountedByKindOnce(t *testing.T) {
	m := metrics.NewSMS(prometheus.NewRegistry())
	a := App{Sent: adapters.NewSentStore(testkit.NewMemState(), "sms-store"), Sender: &fakeSender{}, Now: time.Now, Metrics: m}
	for _, id := range []string{"voucher-r1", "voucher-r1", "phone-code-u1-1", "welcome-u1"} { // r1 redelivered
		require.NoError(t, a.Send(context.Background(), events.SendSMS{MessageID: id, PhoneNumber: "+84909123456", Text: "x"}), id)
	}
	for kind, want := range map[string]float64{"voucher": 1, "phone_code": 1, "other": 1} {
		assert.Equal(t, want, testutil.ToFloat64(m.SentTotal.WithLabelValues(kind)), kind)
	}
	failing := App{Sent: adapters.NewSentStore(testkit.NewMemState(), "sms-store"), Sender: &fakeSender{fail: errors.New("down")}, Now: time.Now, Metrics: m}
	_ = failing.Send(context.Background(), events.SendSMS{MessageID: "voucher-r2", PhoneNumber: "+84909123456", Text: "x"})
	assert.Equal(t, 1.0, testutil.ToFloat64(m.SentTotal.WithLabelValues("voucher")), "a failed send was counted")
}

// failingSentStore is a SentStore whose store is down.
type failingSentStore struct{}

func (failingSentStore) Get(context.Context, string) (domain.Sent, bool, error) {
	return domain.Sent{}, false, errs.E(errs.Unavailable, "state store unavailable")
}

func (failingSentStore) Insert(context.Context, string, domain.Sent, *persist.Event) error {
	return errs.E(errs.Unavailable, "state store unavailable")
}

func TestSentTellsWhetherAMessageWasSent(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := App{Sent: adapters.NewSentStore(testkit.NewMemState(), "sms-store"), Sender: &fakeSender{}, Now: func() time.Time { return at }}
	ctx := context.Background()
	_, found, err := a.FindSent(ctx, "voucher-r1")
	assert.NoError(t, err, "before the send")
	assert.False(t, found, "before the send: found")
	require.NoError(t, a.Send(ctx, events.SendSMS{MessageID: "voucher-r1", PhoneNumber: "+84909123456", Text: "x"}))
	s, found, err := a.FindSent(ctx, "voucher-r1")
	assert.NoError(t, err, "after the send")
	assert.True(t, found, "after the send: found")
	assert.Equal(t, "voucher-r1", s.MessageID, "after the send: %+v", s)
	assert.True(t, s.SentAt.Equal(at), "after the send: sent at %v, want %v", s.SentAt, at)
	_, found, err = a.FindSent(ctx, "voucher-r2")
	assert.NoError(t, err, "another message")
	assert.False(t, found, "another message: found")
}

func TestSentRefusesEmptyAndOversizedIDsAndReportsAStoreDown(t *testing.T) {
	a := App{Sent: adapters.NewSentStore(testkit.NewMemState(), "sms-store"), Sender: &fakeSender{}, Now: time.Now}
	ctx := context.Background()
	for _, id := range []string{"", strings.Repeat("x", domain.MaxMessageIDLen+1), strings.Repeat("é", domain.MaxMessageIDLen+1)} {
		_, found, err := a.FindSent(ctx, id)
		assert.Equal(t, errs.Invalid, errs.KindOf(err), "id of %d characters: err %v, want Invalid", len([]rune(id)), err)
		assert.False(t, found, "id of %d characters: found", len([]rune(id)))
	}
	for _, id := range []string{strings.Repeat("x", domain.MaxMessageIDLen), strings.Repeat("é", domain.MaxMessageIDLen)} {
		_, found, err := a.FindSent(ctx, id)
		assert.NoError(t, err, "id of %d characters", len([]rune(id)))
		assert.False(t, found, "id of %d characters: found, want not found", len([]rune(id)))
	}
	down := App{Sent: failingSentStore{}, Sender: &fakeSender{}, Now: time.Now}
	_, found, err := down.FindSent(ctx, "voucher-r1")
	assert.Equal(t, errs.Unavailable, errs.KindOf(err), "store down: err %v, want Unavailable", err)
	assert.False(t, found, "store down: found")
}
