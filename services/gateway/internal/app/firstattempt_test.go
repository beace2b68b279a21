package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/kit/work"
)

// receiver is a webhook receiver that answers every attempt with answer
// and counts them; safe to call from the Work pool's goroutines.
type receiver struct {
	mu     sync.Mutex
	calls  []string // webhook ids, one per attempt
	answer WebhookResult
	// during, if set, runs while the first attempt is under way.
	during func()
}

func (r *receiver) Send(_ context.Context, _, webhookID, _ string, _ []byte) WebhookResult {
	r.mu.Lock()
	r.calls = append(r.calls, webhookID)
	first, during, res := len(r.calls) == 1, r.during, r.answer
	r.mu.Unlock()
	if first && during != nil {
		during()
	}
	return res
}

func (r *receiver) attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func (r *receiver) answers(res WebhookResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer = res
}

// seenSet is a Set that notes every id ever added to it, so a test can tell
// an id never indexed from one indexed and removed again.
type seenSet struct {
	Set
	mu    sync.Mutex
	added []string
}

func (s *seenSet) Add(ctx context.Context, id string) error {
	s.mu.Lock()
	s.added = append(s.added, id)
	s.mu.Unlock()
	return s.Set.Add(ctx, id)
}

func (s *seenSet) everAdded(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.added, id)
}

// firstAttemptSetup is metricsSetup with the deliveries as main.go makes
// them: the first webhook attempt at once, started in a Work pool.
func firstAttemptSetup(hooks Webhooks) (Purchases, *testClock, *work.Pool, *seenSet) {
	p, clock := metricsSetup(hooks)
	p.Deliveries.FirstAttemptLease = time.Minute
	index := &seenSet{Set: p.Deliveries.Pending}
	p.Deliveries.Pending = index
	pool := work.NewPool(2, time.Minute)
	p.Work = pool
	return p, clock, pool, index
}

// purchased creates alice's purchase (with callback, if not empty) and
// completes it with a SUCCESS, waiting for the background delivery.
func purchased(t *testing.T, p Purchases, pool *work.Pool, callback string) Request {
	t.Helper()
	ctx := context.Background()
	req, _, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber, CallbackURL: callback}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Complete(ctx, events.ReceiveCode{RequestID: req.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "CODE"}); err != nil {
		t.Fatal(err)
	}
	pool.Idle()
	return req
}

func deliveryOf(t *testing.T, p Purchases, id string) Delivery {
	t.Helper()
	d, err := p.Deliveries.Of(context.Background(), id)
	if err != nil || d == nil {
		t.Fatalf("delivery of %s: %v %v", id, d, err)
	}
	return *d
}

// brief is d without its webhook body, for failure messages.
func brief(d Delivery) string {
	return fmt.Sprintf("{%s %s/%s attempts %d next %s claimed %s err %q}", d.RequestID, d.Channel, d.Status,
		d.Attempts, d.NextAttemptAt.Format(time.TimeOnly), d.ClaimedUntil.Format(time.TimeOnly), d.LastError)
}

// TestFirstWebhookAttemptIsMadeAtOnce: with FirstAttemptLease, completing
// a request calls the webhook once, without a sweep; delivered, it never
// enters the sweep's index, and the sweep makes no other attempt.
func TestFirstWebhookAttemptIsMadeAtOnce(t *testing.T) {
	hooks := &receiver{answer: WebhookResult{Delivered: true}}
	p, _, pool, index := firstAttemptSetup(hooks)
	ctx := context.Background()
	req := purchased(t, p, pool, "https://shop.example/hook")
	if n := hooks.attempts(); n != 1 {
		t.Fatalf("webhook called %d times before any sweep, want 1", n)
	}
	d := deliveryOf(t, p, req.RequestID)
	if d.Status != DeliveryDelivered || d.Attempts != 1 || d.DeliveredAt == nil || !d.ClaimedUntil.IsZero() {
		t.Fatalf("delivery %s, want DELIVERED after one attempt, unclaimed", brief(d))
	}
	if index.everAdded(req.RequestID) {
		t.Fatal("a webhook delivered at the first attempt was put in the sweep's index")
	}
	if ids, _ := p.Deliveries.Pending.All(ctx); len(ids) != 0 {
		t.Fatalf("sweep's index %v, want empty", ids)
	}
	if s, err := p.Deliveries.Sweep(ctx, time.Minute); err != nil || s.Attempted != 0 {
		t.Fatalf("sweep %+v %v, want no attempt", s, err)
	}
	// The receive-code, redelivered: no second attempt.
	if err := p.Complete(ctx, events.ReceiveCode{RequestID: req.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "CODE"}); err != nil {
		t.Fatal(err)
	}
	pool.Idle()
	if n := hooks.attempts(); n != 1 {
		t.Fatalf("webhook called %d times after a redelivery, want 1", n)
	}
}

// TestFailedFirstWebhookAttemptIsLeftToTheSweep: a first attempt that must
// be retried leaves the delivery pending, one attempt made, the next one
// scheduled, and in the sweep's index, so the sweep retries it when due.
func TestFailedFirstWebhookAttemptIsLeftToTheSweep(t *testing.T) {
	hooks := &receiver{answer: WebhookResult{Err: "503 Service Unavailable"}}
	p, clock, pool, _ := firstAttemptSetup(hooks)
	ctx := context.Background()
	req := purchased(t, p, pool, "https://shop.example/hook")
	if n := hooks.attempts(); n != 1 {
		t.Fatalf("webhook called %d times before any sweep, want 1", n)
	}
	d := deliveryOf(t, p, req.RequestID)
	if d.Status != DeliveryPending || d.Attempts != 1 || d.LastError == "" || !d.NextAttemptAt.After(clock.now()) || !d.ClaimedUntil.IsZero() {
		t.Fatalf("delivery %s, want pending after one attempt, the next later, unclaimed (now %s)", brief(d), clock.now())
	}
	if ids, _ := p.Deliveries.Pending.All(ctx); len(ids) != 1 || ids[0] != req.RequestID {
		t.Fatalf("sweep's index %v, want [%s]", ids, req.RequestID)
	}
	if s, err := p.Deliveries.Sweep(ctx, time.Minute); err != nil || s.Attempted != 0 {
		t.Fatalf("sweep before the retry is due: %+v %v", s, err)
	}
	hooks.answers(WebhookResult{Delivered: true})
	clock.t = clock.t.Add(2 * time.Second)
	if s, err := p.Deliveries.Sweep(ctx, time.Minute); err != nil || s.Attempted != 1 || s.Delivered != 1 {
		t.Fatalf("sweep once the retry is due: %+v %v, want it delivered", s, err)
	}
	if d := deliveryOf(t, p, req.RequestID); d.Status != DeliveryDelivered || d.Attempts != 2 {
		t.Fatalf("delivery %s, want DELIVERED after two attempts", brief(d))
	}
	if ids, _ := p.Deliveries.Pending.All(ctx); len(ids) != 0 {
		t.Fatalf("sweep's index %v after the delivery, want empty", ids)
	}
	if n := hooks.attempts(); n != 2 {
		t.Fatalf("webhook called %d times, want 2", n)
	}
}

// deliveryWritesFail is a state store whose writes of delivery records
// fail while fail is set, as when gateway dies between recording an
// outcome and storing its delivery.
type deliveryWritesFail struct {
	daprx.StateClient
	mu   sync.Mutex
	fail bool
}

func (d *deliveryWritesFail) dies(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fail && strings.HasPrefix(key, "delivery|")
}

func (d *deliveryWritesFail) set(fail bool) { d.mu.Lock(); d.fail = fail; d.mu.Unlock() }

func (d *deliveryWritesFail) SaveBulkState(ctx context.Context, store string, items ...*dapr.SetStateItem) error {
	for _, it := range items {
		if d.dies(it.Key) {
			return errKilled
		}
	}
	return d.StateClient.SaveBulkState(ctx, store, items...)
}

func (d *deliveryWritesFail) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	for _, op := range ops {
		if d.dies(op.Item.Key) {
			return errKilled
		}
	}
	return d.StateClient.ExecuteStateTransaction(ctx, store, meta, ops)
}

// requestCodes records what the redrive publishes.
type requestCodes struct {
	mu   sync.Mutex
	sent int
}

func (r *requestCodes) Publish(context.Context, string, string, any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent++
	return nil
}

// withRedrive gives p a redrive on its own in-memory schedule (on clock),
// which starts missing deliveries with p's Deliveries.
func withRedrive(p *Purchases, clock *testClock) (Redrive, *requestCodes) {
	sched := daprx.NewSchedule(testkit.NewMemState(), "gateway-store", "redrive", "gateway-a", time.Minute)
	sched.Now = clock.now
	pub := &requestCodes{}
	r := Redrive{Schedule: sched, Requests: p.Requests, Events: pub, After: time.Minute, Deliveries: p.Deliveries}
	p.Redrive = r
	return r, pub
}

// TestRedriveStartsTheDeliveryAFinishedRequestLacks: the outcome is
// recorded but its delivery, started in the background, dies before it is
// stored. When the request comes due, the redrive's sweep finds it finished
// and starts the delivery: the webhook is attempted, or the SMS queued, and
// request-code is not sent again. A later look changes nothing.
func TestRedriveStartsTheDeliveryAFinishedRequestLacks(t *testing.T) {
	for _, tc := range []struct {
		name, callback string
	}{
		{"callback", "https://shop.example/hook"},
		{"sms", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hooks := &receiver{answer: WebhookResult{Delivered: true}}
			p, clock, pool, _ := firstAttemptSetup(hooks)
			dying := &deliveryWritesFail{StateClient: p.Deliveries.Store.(daprx.Store[Delivery]).Client, fail: true}
			dmem := dying.StateClient.(*testkit.MemState)
			store := p.Deliveries.Store.(daprx.Store[Delivery])
			store.Client = dying
			p.Deliveries.Store = store
			r, pub := withRedrive(&p, clock)
			ctx := context.Background()

			req := purchased(t, p, pool, tc.callback)
			dying.set(false)
			if got, _, _, _ := p.Requests.Get(ctx, requestKey(req.RequestID)); got.State != StateSuccess {
				t.Fatalf("request %v, want its outcome recorded", got)
			}
			if d, err := p.Deliveries.Of(ctx, req.RequestID); err != nil || d != nil {
				t.Fatalf("delivery %+v %v: the failure did not happen where this test means it to", d, err)
			}
			if hooks.attempts() != 0 || len(dmem.Events(events.TopicSendSMS)) != 0 {
				t.Fatal("a delivery that was never stored was attempted")
			}

			// Not due yet: nothing.
			if s, err := r.Sweep(ctx); err != nil || s.Checked != 0 {
				t.Fatalf("sweep before the request came due: %+v %v", s, err)
			}
			clock.t = clock.t.Add(r.After + time.Second)
			if s, err := r.Sweep(ctx); err != nil || s.Checked != 1 || s.Resent != 0 {
				t.Fatalf("sweep %+v %v, want the finished request checked, not resent", s, err)
			}
			d := deliveryOf(t, p, req.RequestID)
			switch tc.callback {
			case "":
				if d.Channel != ChannelSMS || d.Status != DeliverySMSQueued {
					t.Fatalf("delivery %s, want the SMS queued", brief(d))
				}
				if n := len(dmem.Events(events.TopicSendSMS)); n != 1 {
					t.Fatalf("send-sms published %d times, want 1", n)
				}
			default:
				if d.Channel != ChannelWebhook || d.Status != DeliveryDelivered || d.Attempts != 1 {
					t.Fatalf("delivery %s, want the webhook delivered at its first attempt", brief(d))
				}
				if n := hooks.attempts(); n != 1 {
					t.Fatalf("webhook called %d times, want 1", n)
				}
			}
			pub.mu.Lock()
			resent := pub.sent
			pub.mu.Unlock()
			if resent != 0 {
				t.Fatalf("request-code sent again %d times for a finished request", resent)
			}

			// Looked at again (tracked once more): the delivery exists, no-op.
			if err := r.Track(ctx, req.RequestID); err != nil {
				t.Fatal(err)
			}
			clock.t = clock.t.Add(r.After + time.Second)
			if s, err := r.Sweep(ctx); err != nil || s.Checked != 1 {
				t.Fatalf("second sweep %+v %v", s, err)
			}
			if hooks.attempts() > 1 || len(dmem.Events(events.TopicSendSMS)) > 1 {
				t.Fatalf("the second look delivered again: %d webhook attempts, %d SMS",
					hooks.attempts(), len(dmem.Events(events.TopicSendSMS)))
			}
		})
	}
}

// TestRedriveIndexesAWebhookWhoseFirstAttemptDied: the delivery was stored,
// claimed for its first attempt, and gateway died before the attempt (so
// the webhook is in no index). The redrive puts it in the sweep's index,
// and the sweep attempts it once the claim has run out.
func TestRedriveIndexesAWebhookWhoseFirstAttemptDied(t *testing.T) {
	hooks := &receiver{answer: WebhookResult{Delivered: true}}
	p, clock, _, _ := firstAttemptSetup(hooks)
	r, _ := withRedrive(&p, clock)
	ctx := context.Background()
	req, _, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber, CallbackURL: "https://shop.example/hook"}, "")
	if err != nil {
		t.Fatal(err)
	}
	now := clock.now()
	if _, err := p.Requests.Update(ctx, requestKey(req.RequestID), func(r *Request, _ bool) (*daprx.Event, error) {
		r.State, r.Status, r.VoucherCode, r.Progress, r.CompletedAt = StateSuccess, events.StatusSuccess, "CODE", 100, &now
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	// What Start stores before its first attempt, the attempt never made.
	if err := p.Deliveries.Store.Insert(ctx, deliveryKey(req.RequestID), Delivery{RequestID: req.RequestID, Username: alice.Username,
		PhoneNumber: alice.PhoneNumber, Channel: ChannelWebhook, Status: DeliveryPending, CallbackURL: req.CallbackURL,
		WebhookID: "msg_" + req.RequestID, Body: []byte(`{"type":"voucher.issued"}`), NextAttemptAt: now,
		ClaimedUntil: now.Add(90 * time.Second), CreatedAt: now, UpdatedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	clock.t = clock.t.Add(r.After + time.Second) // due; the claim holds 30 s more
	if s, err := r.Sweep(ctx); err != nil || s.Checked != 1 {
		t.Fatalf("redrive sweep %+v %v", s, err)
	}
	if ids, _ := p.Deliveries.Pending.All(ctx); len(ids) != 1 || ids[0] != req.RequestID {
		t.Fatalf("sweep's index %v, want [%s]", ids, req.RequestID)
	}
	if hooks.attempts() != 0 {
		t.Fatal("the redrive made a second first attempt beside the stored one")
	}
	if s, err := p.Deliveries.Sweep(ctx, time.Minute); err != nil || s.Attempted != 0 {
		t.Fatalf("delivery sweep while the first attempt's claim holds: %+v %v", s, err)
	}
	clock.t = clock.t.Add(30 * time.Second)
	if s, err := p.Deliveries.Sweep(ctx, time.Minute); err != nil || s.Delivered != 1 {
		t.Fatalf("delivery sweep %+v %v, want it delivered", s, err)
	}
	if n := hooks.attempts(); n != 1 {
		t.Fatalf("webhook called %d times, want 1", n)
	}
}

// insertRace is a delivery store in which another handler (a redelivered
// receive-code, or the redrive) stores the delivery between Start's look
// and its insert.
type insertRace struct {
	Store[Delivery]
	once  sync.Once
	other Delivery
}

func (s *insertRace) Insert(ctx context.Context, key string, v Delivery, ev *daprx.Event) error {
	s.once.Do(func() { _ = s.Store.Insert(ctx, key, s.other, nil) })
	return s.Store.Insert(ctx, key, v, ev)
}

// TestFirstWebhookAttemptIsMadeByTheInsertsWinnerOnly: two starts of one
// delivery race; the one whose insert loses makes no attempt (the winner's
// claim is on it) and only makes sure the sweep's index has it.
func TestFirstWebhookAttemptIsMadeByTheInsertsWinnerOnly(t *testing.T) {
	hooks := &receiver{answer: WebhookResult{Delivered: true}}
	p, clock, _, _ := firstAttemptSetup(hooks)
	ctx := context.Background()
	now := clock.now()
	req := Request{RequestID: "r9", UserID: alice.UserID, Username: alice.Username, PhoneNumber: alice.PhoneNumber,
		CallbackURL: "https://shop.example/hook", Status: events.StatusSuccess, State: StateSuccess, VoucherCode: "CODE"}
	p.Deliveries.Store = &insertRace{Store: p.Deliveries.Store, other: Delivery{RequestID: "r9", Username: alice.Username,
		Channel: ChannelWebhook, Status: DeliveryPending, CallbackURL: req.CallbackURL, WebhookID: "msg_r9",
		NextAttemptAt: now, ClaimedUntil: now.Add(time.Minute), CreatedAt: now, UpdatedAt: now}}
	if err := p.Deliveries.Start(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := hooks.attempts(); n != 0 {
		t.Fatalf("the insert's loser called the webhook %d times", n)
	}
	if ids, _ := p.Deliveries.Pending.All(ctx); len(ids) != 1 || ids[0] != "r9" {
		t.Fatalf("sweep's index %v, want [r9]", ids)
	}
}

// TestSweepLeavesAFirstAttemptUnderWayAlone: the first attempt is claimed
// by the insert itself, so a sweep that finds the delivery meanwhile (put
// in the index by the redrive, or another replica's look) makes no second
// attempt beside it.
func TestSweepLeavesAFirstAttemptUnderWayAlone(t *testing.T) {
	hooks := &receiver{answer: WebhookResult{Delivered: true}}
	p, _, _, _ := firstAttemptSetup(hooks)
	ctx := context.Background()
	var during SweepSummary
	var duringErr error
	hooks.during = func() {
		if duringErr = p.Deliveries.Pending.Add(ctx, "r7"); duringErr == nil {
			during, duringErr = p.Deliveries.Sweep(ctx, time.Minute)
		}
	}
	req := Request{RequestID: "r7", UserID: alice.UserID, Username: alice.Username, PhoneNumber: alice.PhoneNumber,
		CallbackURL: "https://shop.example/hook", Status: events.StatusSuccess, State: StateSuccess, VoucherCode: "CODE"}
	if err := p.Deliveries.Start(ctx, req); err != nil {
		t.Fatal(err)
	}
	if duringErr != nil || during.Attempted != 0 {
		t.Fatalf("sweep during the first attempt: %+v %v, want no attempt", during, duringErr)
	}
	if n := hooks.attempts(); n != 1 {
		t.Fatalf("webhook called %d times, want 1", n)
	}
	if d := deliveryOf(t, p, "r7"); d.Status != DeliveryDelivered || d.Attempts != 1 {
		t.Fatalf("delivery %s, want DELIVERED after one attempt", brief(d))
	}
	// The next sweep finds it delivered and drops it from the index.
	if s, err := p.Deliveries.Sweep(ctx, time.Minute); err != nil || s.Attempted != 0 {
		t.Fatalf("next sweep %+v %v", s, err)
	}
	if ids, _ := p.Deliveries.Pending.All(ctx); len(ids) != 0 {
		t.Fatalf("sweep's index %v, want empty", ids)
	}
}
