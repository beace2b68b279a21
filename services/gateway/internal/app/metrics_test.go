package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/testkit"
)

type storedVouchers struct{}

func (storedVouchers) ByPhone(context.Context, string) (VoucherList, error) { return nil, nil }
func (storedVouchers) Stored(context.Context, string) (bool, error)         { return true, nil }

// answering webhooks answer attempt n (from 1) with answer(n).
type answering struct {
	n      int
	answer func(n int) WebhookResult
}

func (a *answering) Send(context.Context, string, string, string, []byte) WebhookResult {
	a.n++
	return a.answer(a.n)
}

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

func metricsSetup(webhooks Webhooks) (Purchases, *testClock) {
	mem, dmem := testkit.NewMemState(), testkit.NewMemState()
	clock := &testClock{t: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	users := daprx.Store[User]{Client: mem, Name: "gateway-store"}
	_ = users.Insert(context.Background(), userKey("alice"), User{ID: "u1", Username: "alice", WebhookSecret: "whsec_x"}, nil)
	n := 0
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	return Purchases{
		Requests: daprx.Store[Request]{Client: mem, Name: "gateway-store",
			Outbox: daprx.NewOutbox(mem, "gateway-store", "pubsub", "gateway-a", 5*time.Second, quiet)},
		Vouchers: storedVouchers{},
		Deliveries: Deliveries{
			Store: daprx.Store[Delivery]{Client: dmem, Name: "gateway-deliveries",
				Outbox: daprx.NewOutbox(dmem, "gateway-deliveries", "pubsub", "gateway-a", 5*time.Second, quiet)},
			Pending:       daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: dmem, Name: "gateway-deliveries"}, Name: "pending-webhooks", Shards: 2},
			Users:         users,
			Webhooks:      webhooks,
			Now:           clock.now,
			Schedule:      []time.Duration{time.Second},
			MaxRetryAfter: time.Minute,
		},
		Now:   clock.now,
		NewID: func() string { n++; return fmt.Sprintf("r%d", n) },
	}, clock
}

var alice = Session{ID: "s1", UserID: "u1", Username: "alice", PhoneNumber: "+84909123450", PhoneVerified: true}

func TestPurchasesAreCountedOnceEach(t *testing.T) {
	p, _ := metricsSetup(nil)
	m := metrics.NewPurchases(prometheus.NewRegistry())
	p.Metrics = m
	ctx := context.Background()
	first, _, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber}, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, replayed, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber}, "key-1"); err != nil || !replayed {
		t.Fatalf("replay: %v %v", replayed, err)
	}
	second, _, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.AcceptedTotal); got != 2 {
		t.Fatalf("accepted %v, want 2 (the replay is not a purchase)", got)
	}
	success := events.ReceiveCode{RequestID: first.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "CODE"}
	for range 3 { // the same outcome, redelivered
		if err := p.Complete(ctx, success); err != nil {
			t.Fatal(err)
		}
	}
	failed := events.ReceiveCode{RequestID: second.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusFailed, Reason: "no code"}
	if err := p.Complete(ctx, failed); err != nil {
		t.Fatal(err)
	}
	// A late SUCCESS for a request already FAILED changes nothing.
	if err := p.Complete(ctx, events.ReceiveCode{RequestID: second.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "C2"}); err != nil {
		t.Fatal(err)
	}
	for status, want := range map[string]float64{events.StatusSuccess: 1, events.StatusFailed: 1, events.StatusLateSuccess: 0} {
		if got := testutil.ToFloat64(m.FinishedTotal.WithLabelValues(status)); got != want {
			t.Errorf("%s: %v, want %v", status, got, want)
		}
	}
}

func TestWebhookAttemptsAreCountedByOutcome(t *testing.T) {
	hooks := &answering{answer: func(n int) WebhookResult { return WebhookResult{Err: "503"} }}
	p, clock := metricsSetup(hooks)
	m := metrics.NewWebhooks(prometheus.NewRegistry())
	p.Deliveries.Metrics = m
	ctx := context.Background()
	sweep := func() {
		t.Helper()
		if _, err := p.Deliveries.Sweep(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// One receiver that never answers 2xx: an attempt, a retry, then SMS.
	req, _, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber, CallbackURL: "https://shop.example/hook"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Complete(ctx, events.ReceiveCode{RequestID: req.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "CODE"}); err != nil {
		t.Fatal(err)
	}
	sweep()
	sweep() // not due yet: no attempt
	clock.t = clock.t.Add(2 * time.Second)
	sweep()
	// Another that answers at once.
	hooks.answer = func(int) WebhookResult { return WebhookResult{Delivered: true} }
	req, _, err = p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber, CallbackURL: "https://shop.example/hook"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Complete(ctx, events.ReceiveCode{RequestID: req.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "CODE2"}); err != nil {
		t.Fatal(err)
	}
	sweep()
	for outcome, want := range map[string]float64{"retry": 1, "fell_back": 1, "delivered": 1} {
		if got := testutil.ToFloat64(m.AttemptsTotal.WithLabelValues(outcome)); got != want {
			t.Errorf("%s: %v, want %v", outcome, got, want)
		}
	}
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
		if err := d.Keep(context.Background(), "ev-1", events.TopicReceiveCode, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Keep(context.Background(), "ev-2", events.TopicRequestCode, data); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.Total.WithLabelValues(events.TopicReceiveCode)); got != 1 {
		t.Fatalf("receive-code dead letters %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Total.WithLabelValues(events.TopicRequestCode)); got != 1 {
		t.Fatalf("request-code dead letters %v, want 1", got)
	}
}
