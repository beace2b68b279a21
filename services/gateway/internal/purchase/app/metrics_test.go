package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/gateway/internal/customer"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

type storedVouchers struct{}

func (storedVouchers) ByPhone(context.Context, string, VoucherPage) (VoucherList, error) {
	return nil, nil
}
func (storedVouchers) Stored(context.Context, string) (bool, error) { return true, nil }

// answering webhooks answer attempt n (from 1) with answer(n).
type answering struct {
	n      int
	answer func(n int) domain.WebhookResult
}

func (a *answering) Send(context.Context, string, string, string, []byte) domain.WebhookResult {
	a.n++
	return a.answer(a.n)
}

// secrets are the customers' webhook secrets, by username.
type secrets map[string]string

func (s secrets) WebhookSecret(_ context.Context, username string) (string, bool, error) {
	secret, found := s[username]
	return secret, found, nil
}

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

func metricsSetup(webhooks Webhooks) (Purchases, *testClock) {
	mem, dmem := testkit.NewMemState(), testkit.NewMemState()
	clock := &testClock{t: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	n := 0
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	return Purchases{
		Requests: daprx.Store[domain.Request]{Client: mem, Name: "gateway-store",
			Outbox: daprx.NewOutbox(mem, "gateway-store", "pubsub", "gateway-a", 5*time.Second, quiet)},
		Vouchers: storedVouchers{},
		Deliveries: Deliveries{
			Store: daprx.Store[domain.Delivery]{Client: dmem, Name: "gateway-deliveries",
				Outbox: daprx.NewOutbox(dmem, "gateway-deliveries", "pubsub", "gateway-a", 5*time.Second, quiet)},
			Pending:       daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: dmem, Name: "gateway-deliveries"}, Name: "pending-webhooks", Shards: 2},
			Secrets:       secrets{"alice": "whsec_x"},
			Webhooks:      webhooks,
			Codec:         jsonCodec{},
			Now:           clock.now,
			Schedule:      []time.Duration{time.Second},
			MaxRetryAfter: time.Minute,
		},
		Now:   clock.now,
		NewID: func() string { n++; return fmt.Sprintf("r%d", n) },
	}, clock
}

// jsonCodec stands in for adapters.WebhookJSON, which imports this package.
type jsonCodec struct{}

func (jsonCodec) Encode(w domain.Webhook) ([]byte, error) { return json.Marshal(w) }

func (jsonCodec) Decode(body []byte) (domain.Webhook, error) {
	var w domain.Webhook
	err := json.Unmarshal(body, &w)
	return w, err
}

var alice = customer.Session{UserID: "u1", Username: "alice", PhoneNumber: "+84909123450", PhoneVerified: true}

func TestPurchasesAreCountedOnceEach(t *testing.T) {
	p, _ := metricsSetup(nil)
	m := metrics.NewPurchases(prometheus.NewRegistry())
	p.Metrics = m
	ctx := context.Background()
	first, _, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber}, "key-1")
	require.NoError(t, err)
	_, replayed, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber}, "key-1")
	require.NoError(t, err, "replay")
	assert.True(t, replayed, "replay")
	second, _, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber}, "")
	require.NoError(t, err)
	assert.Equal(t, 2.0, testutil.ToFloat64(m.AcceptedTotal), "accepted (the replay is not a purchase)")
	success := events.ReceiveCode{RequestID: first.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "CODE"}
	for range 3 { // the same outcome, redelivered
		require.NoError(t, p.Complete(ctx, success))
	}
	failed := events.ReceiveCode{RequestID: second.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusFailed, Reason: "no code"}
	require.NoError(t, p.Complete(ctx, failed))
	// A late SUCCESS for a request already FAILED changes nothing.
	require.NoError(t, p.Complete(ctx, events.ReceiveCode{RequestID: second.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "C2"}))
	for status, want := range map[string]float64{events.StatusSuccess: 1, events.StatusFailed: 1, events.StatusLateSuccess: 0} {
		assert.Equal(t, want, testutil.ToFloat64(m.FinishedTotal.WithLabelValues(status)), status)
	}
}

// TestWebhookAttemptsAreCountedByOutcome: every attempt is counted by its
// outcome, and every failed one is logged with the receiver's answer, so a
// receiver that keeps failing is seen before its code goes by SMS.
func TestWebhookAttemptsAreCountedByOutcome(t *testing.T) {
	hooks := &answering{answer: func(n int) domain.WebhookResult { return domain.WebhookResult{Err: "answered 503"} }}
	p, clock := metricsSetup(hooks)
	m := metrics.NewWebhooks(prometheus.NewRegistry())
	p.Deliveries.Metrics = m
	var logged strings.Builder
	p.Deliveries.Log = slog.New(slog.NewTextHandler(&logged, nil))
	ctx := context.Background()
	sweep := func() {
		t.Helper()
		_, err := p.Deliveries.Sweep(ctx, time.Minute)
		require.NoError(t, err)
	}
	// One receiver that never answers 2xx: an attempt, a retry, then SMS.
	req, _, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber, CallbackURL: "https://shop.example/hook"}, "")
	require.NoError(t, err)
	require.NoError(t, p.Complete(ctx, events.ReceiveCode{RequestID: req.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "CODE"}))
	sweep()
	sweep() // not due yet: no attempt
	clock.t = clock.t.Add(2 * time.Second)
	sweep()
	// Another that answers at once.
	hooks.answer = func(int) domain.WebhookResult { return domain.WebhookResult{Delivered: true} }
	req, _, err = p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber, CallbackURL: "https://shop.example/hook"}, "")
	require.NoError(t, err)
	require.NoError(t, p.Complete(ctx, events.ReceiveCode{RequestID: req.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "CODE2"}))
	sweep()
	for outcome, want := range map[string]float64{"retry": 1, "fell_back": 1, "delivered": 1} {
		assert.Equal(t, want, testutil.ToFloat64(m.AttemptsTotal.WithLabelValues(outcome)), outcome)
	}
	failed := strings.Count(logged.String(), `msg="webhook attempt failed"`)
	assert.Equal(t, 2, failed, "each failed attempt logged once:\n%s", logged.String())
	assert.Contains(t, logged.String(), `outcome=retry reason="answered 503"`)
	assert.Contains(t, logged.String(), `outcome=fell_back reason="answered 503"`)
}

func TestDeadLettersAreCountedOnceByTopic(t *testing.T) {
	mem := testkit.NewMemState()
	m := metrics.NewDeadLetters(prometheus.NewRegistry())
	d := DeadLetters{
		Store:   daprx.Store[DeadLetter]{Client: mem, Name: "gateway-store"},
		Index:   daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: mem, Name: "gateway-store"}, Name: "dead-letters", Shards: 2},
		Now:     time.Now,
		Metrics: m,
	}
	data := json.RawMessage(`{"requestId":"r1"}`)
	for range 2 { // the dead letter, redelivered
		require.NoError(t, d.Keep(context.Background(), "ev-1", events.TopicReceiveCode, data))
	}
	require.NoError(t, d.Keep(context.Background(), "ev-2", events.TopicRequestCode, data))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Total.WithLabelValues(events.TopicReceiveCode)), "receive-code dead letters")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Total.WithLabelValues(events.TopicRequestCode)), "request-code dead letters")
}
