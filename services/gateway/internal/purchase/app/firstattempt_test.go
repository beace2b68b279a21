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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/kit/work"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// receiver is safe to call from the Work pool's goroutines.
type receiver struct {
	mu     sync.Mutex
	calls  []string // webhook ids, one per attempt
	answer domain.WebhookResult
	// during, if set, runs while the first attempt is under way.
	during func()
}

func (r *receiver) Send(_ context.Context, _, webhookID, _ string, _ []byte) domain.WebhookResult {
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

func (r *receiver) answers(res domain.WebhookResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer = res
}

// seenSet tells an id never indexed from one indexed and removed again.
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

// firstAttemptSetup makes the deliveries as main.go does.
func firstAttemptSetup(hooks Webhooks) (Purchases, *testClock, *work.Pool, *seenSet) {
	p, clock := metricsSetup(hooks)
	p.Deliveries.FirstAttemptLease = time.Minute
	index := &seenSet{Set: p.Deliveries.Pending}
	p.Deliveries.Pending = index
	pool := work.NewPool(2, time.Minute)
	p.Work = pool
	return p, clock, pool, index
}

// purchased completes a purchase and waits for its background delivery.
func purchased(t *testing.T, p Purchases, pool *work.Pool, callback string) domain.Request {
	t.Helper()
	ctx := context.Background()
	req, _, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber, CallbackURL: callback}, "")
	require.NoError(t, err)
	require.NoError(t, p.Complete(ctx, events.ReceiveCode{RequestID: req.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "CODE"}))
	pool.Idle()
	return req
}

func deliveryOf(t *testing.T, p Purchases, id string) domain.Delivery {
	t.Helper()
	d, err := p.Deliveries.Of(context.Background(), id)
	require.NoError(t, err, "delivery of %s", id)
	require.NotNil(t, d, "delivery of %s", id)
	return *d
}

func brief(d domain.Delivery) string {
	return fmt.Sprintf("{%s %s/%s attempts %d next %s claimed %s err %q}", d.RequestID, d.Channel, d.Status,
		d.Attempts, d.NextAttemptAt.Format(time.TimeOnly), d.ClaimedUntil.Format(time.TimeOnly), d.LastError)
}

// TestFirstWebhookAttemptIsMadeAtOnce: a delivered first attempt never
// enters the sweep's index, so the sweep makes no other.
func TestFirstWebhookAttemptIsMadeAtOnce(t *testing.T) {
	hooks := &receiver{answer: domain.WebhookResult{Delivered: true}}
	p, _, pool, index := firstAttemptSetup(hooks)
	ctx := context.Background()
	req := purchased(t, p, pool, "https://shop.example/hook")
	assert.Equal(t, 1, hooks.attempts(), "webhook calls before any sweep")
	d := deliveryOf(t, p, req.RequestID)
	want := "delivery " + brief(d) + ", want DELIVERED after one attempt, unclaimed"
	assert.Equal(t, domain.DeliveryDelivered, d.Status, want)
	assert.Equal(t, 1, d.Attempts, want)
	assert.NotNil(t, d.DeliveredAt, want)
	assert.True(t, d.ClaimedUntil.IsZero(), want)
	assert.False(t, index.everAdded(req.RequestID), "a webhook delivered at the first attempt was put in the sweep's index")
	ids, _ := p.Deliveries.Pending.All(ctx)
	assert.Empty(t, ids, "sweep's index")
	s, err := p.Deliveries.Sweep(ctx, time.Minute)
	require.NoError(t, err, "sweep")
	assert.Zero(t, s.Attempted, "sweep %+v, want no attempt", s)
	// The receive-code, redelivered: no second attempt.
	require.NoError(t, p.Complete(ctx, events.ReceiveCode{RequestID: req.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "CODE"}))
	pool.Idle()
	assert.Equal(t, 1, hooks.attempts(), "webhook calls after a redelivery")
}

// TestFailedFirstWebhookAttemptIsLeftToTheSweep: the failed webhook must be
// in the sweep's index, or it is never retried.
func TestFailedFirstWebhookAttemptIsLeftToTheSweep(t *testing.T) {
	hooks := &receiver{answer: domain.WebhookResult{Err: "503 Service Unavailable"}}
	p, clock, pool, _ := firstAttemptSetup(hooks)
	ctx := context.Background()
	req := purchased(t, p, pool, "https://shop.example/hook")
	assert.Equal(t, 1, hooks.attempts(), "webhook calls before any sweep")
	d := deliveryOf(t, p, req.RequestID)
	want := fmt.Sprintf("delivery %s, want pending after one attempt, the next later, unclaimed (now %s)", brief(d), clock.now())
	assert.Equal(t, domain.DeliveryPending, d.Status, want)
	assert.Equal(t, 1, d.Attempts, want)
	assert.NotEmpty(t, d.LastError, want)
	assert.True(t, d.NextAttemptAt.After(clock.now()), want)
	assert.True(t, d.ClaimedUntil.IsZero(), want)
	ids, _ := p.Deliveries.Pending.All(ctx)
	require.Equal(t, []string{req.RequestID}, ids, "sweep's index")
	s, err := p.Deliveries.Sweep(ctx, time.Minute)
	require.NoError(t, err, "sweep before the retry is due")
	require.Zero(t, s.Attempted, "sweep before the retry is due: %+v", s)
	hooks.answers(domain.WebhookResult{Delivered: true})
	clock.t = clock.t.Add(2 * time.Second)
	s, err = p.Deliveries.Sweep(ctx, time.Minute)
	require.NoError(t, err, "sweep once the retry is due")
	assert.Equal(t, 1, s.Attempted, "sweep once the retry is due: %+v, want it delivered", s)
	assert.Equal(t, 1, s.Delivered, "sweep once the retry is due: %+v, want it delivered", s)
	d = deliveryOf(t, p, req.RequestID)
	assert.Equal(t, domain.DeliveryDelivered, d.Status, "delivery %s, want DELIVERED after two attempts", brief(d))
	assert.Equal(t, 2, d.Attempts, "delivery %s, want DELIVERED after two attempts", brief(d))
	ids, _ = p.Deliveries.Pending.All(ctx)
	assert.Empty(t, ids, "sweep's index after the delivery")
	assert.Equal(t, 2, hooks.attempts(), "webhook calls")
}

// deliveryWritesFail acts as a gateway that dies between recording an
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

// withRedrive gives p a redrive that starts missing deliveries.
func withRedrive(p *Purchases, clock *testClock) (Redrive, *requestCodes) {
	sched := daprx.NewSchedule(testkit.NewMemState(), "gateway-store", "redrive", "gateway-a", time.Minute)
	sched.Now = clock.now
	pub := &requestCodes{}
	r := Redrive{Schedule: sched, Requests: p.Requests, Events: pub, After: time.Minute, Deliveries: p.Deliveries}
	p.Redrive = r
	return r, pub
}

// TestRedriveStartsTheDeliveryAFinishedRequestLacks: the delivery died
// before it was stored. The redrive starts it without a new request-code.
func TestRedriveStartsTheDeliveryAFinishedRequestLacks(t *testing.T) {
	for _, tc := range []struct {
		name, callback string
	}{
		{"callback", "https://shop.example/hook"},
		{"sms", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hooks := &receiver{answer: domain.WebhookResult{Delivered: true}}
			p, clock, pool, _ := firstAttemptSetup(hooks)
			dying := &deliveryWritesFail{StateClient: p.Deliveries.Store.(daprx.Store[domain.Delivery]).Client, fail: true}
			dmem := dying.StateClient.(*testkit.MemState)
			store := p.Deliveries.Store.(daprx.Store[domain.Delivery])
			store.Client = dying
			p.Deliveries.Store = store
			r, pub := withRedrive(&p, clock)
			ctx := context.Background()

			req := purchased(t, p, pool, tc.callback)
			dying.set(false)
			got, _, _ := p.Requests.Get(ctx, requestKey(req.RequestID))
			require.Equal(t, domain.StateSuccess, got.State, "request %v, want its outcome recorded", got)
			d0, err := p.Deliveries.Of(ctx, req.RequestID)
			require.NoError(t, err, "the failure did not happen where this test means it to")
			require.Nil(t, d0, "the failure did not happen where this test means it to")
			require.Zero(t, hooks.attempts(), "a delivery that was never stored was attempted")
			require.Empty(t, dmem.Events(events.TopicSendSMS), "a delivery that was never stored was attempted")

			s, err := r.Sweep(ctx)
			require.NoError(t, err, "sweep before the request came due")
			require.Zero(t, s.Checked, "sweep before the request came due: %+v", s)
			clock.t = clock.t.Add(r.After + time.Second)
			s, err = r.Sweep(ctx)
			require.NoError(t, err, "sweep")
			assert.Equal(t, 1, s.Checked, "sweep %+v, want the finished request checked, not resent", s)
			assert.Zero(t, s.Resent, "sweep %+v, want the finished request checked, not resent", s)
			d := deliveryOf(t, p, req.RequestID)
			switch tc.callback {
			case "":
				assert.Equal(t, domain.ChannelSMS, d.Channel, "delivery %s, want the SMS queued", brief(d))
				assert.Equal(t, domain.DeliverySMSQueued, d.Status, "delivery %s, want the SMS queued", brief(d))
				assert.Len(t, dmem.Events(events.TopicSendSMS), 1, "send-sms published")
			default:
				want := "delivery " + brief(d) + ", want the webhook delivered at its first attempt"
				assert.Equal(t, domain.ChannelWebhook, d.Channel, want)
				assert.Equal(t, domain.DeliveryDelivered, d.Status, want)
				assert.Equal(t, 1, d.Attempts, want)
				assert.Equal(t, 1, hooks.attempts(), "webhook calls")
			}
			pub.mu.Lock()
			resent := pub.sent
			pub.mu.Unlock()
			assert.Zero(t, resent, "times request-code was sent again for a finished request")

			// Looked at again: the delivery exists, so nothing changes.
			require.NoError(t, r.Track(ctx, req.RequestID))
			clock.t = clock.t.Add(r.After + time.Second)
			s, err = r.Sweep(ctx)
			require.NoError(t, err, "second sweep")
			assert.Equal(t, 1, s.Checked, "second sweep %+v", s)
			assert.LessOrEqual(t, hooks.attempts(), 1, "the second look delivered again: webhook attempts")
			assert.LessOrEqual(t, len(dmem.Events(events.TopicSendSMS)), 1, "the second look delivered again: SMS")
		})
	}
}

// TestRedriveIndexesAWebhookWhoseFirstAttemptDied: gateway died before the
// first attempt, so the webhook is in no index until the redrive adds it.
func TestRedriveIndexesAWebhookWhoseFirstAttemptDied(t *testing.T) {
	hooks := &receiver{answer: domain.WebhookResult{Delivered: true}}
	p, clock, _, _ := firstAttemptSetup(hooks)
	r, _ := withRedrive(&p, clock)
	ctx := context.Background()
	req, _, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber, CallbackURL: "https://shop.example/hook"}, "")
	require.NoError(t, err)
	now := clock.now()
	_, err = p.Requests.Update(ctx, requestKey(req.RequestID), func(r *domain.Request, _ bool) (*persist.Event, error) {
		r.State, r.Status, r.VoucherCode, r.Progress, r.CompletedAt = domain.StateSuccess, events.StatusSuccess, "CODE", 100, &now
		return nil, nil
	})
	require.NoError(t, err)
	// What Ensure stores before its first attempt, the attempt never made.
	require.NoError(t, p.Deliveries.Store.Insert(ctx, deliveryKey(req.RequestID), domain.Delivery{RequestID: req.RequestID, Username: alice.Username,
		PhoneNumber: alice.PhoneNumber, Channel: domain.ChannelWebhook, Status: domain.DeliveryPending, CallbackURL: req.CallbackURL,
		WebhookID: "msg_" + req.RequestID, Body: []byte(`{"type":"voucher.issued"}`), NextAttemptAt: now,
		ClaimedUntil: now.Add(90 * time.Second), CreatedAt: now, UpdatedAt: now}, nil))
	clock.t = clock.t.Add(r.After + time.Second) // due; the claim holds 30 s more
	rs, err := r.Sweep(ctx)
	require.NoError(t, err, "redrive sweep")
	require.Equal(t, 1, rs.Checked, "redrive sweep %+v", rs)
	ids, _ := p.Deliveries.Pending.All(ctx)
	require.Equal(t, []string{req.RequestID}, ids, "sweep's index")
	assert.Zero(t, hooks.attempts(), "the redrive made a second first attempt beside the stored one")
	s, err := p.Deliveries.Sweep(ctx, time.Minute)
	require.NoError(t, err, "delivery sweep while the first attempt's claim holds")
	assert.Zero(t, s.Attempted, "delivery sweep while the first attempt's claim holds: %+v", s)
	clock.t = clock.t.Add(30 * time.Second)
	s, err = p.Deliveries.Sweep(ctx, time.Minute)
	require.NoError(t, err, "delivery sweep")
	assert.Equal(t, 1, s.Delivered, "delivery sweep %+v, want it delivered", s)
	assert.Equal(t, 1, hooks.attempts(), "webhook calls")
}

// insertRace acts as another handler that stores the delivery between
// Ensure's look and its insert.
type insertRace struct {
	persist.Store[domain.Delivery]
	once  sync.Once
	other domain.Delivery
}

func (s *insertRace) Insert(ctx context.Context, key string, v domain.Delivery, ev *persist.Event) error {
	s.once.Do(func() { _ = s.Store.Insert(ctx, key, s.other, nil) })
	return s.Store.Insert(ctx, key, v, ev)
}

// TestFirstWebhookAttemptIsMadeByTheInsertsWinnerOnly: the loser of the
// insert race makes no attempt, because the winner's claim is on it.
func TestFirstWebhookAttemptIsMadeByTheInsertsWinnerOnly(t *testing.T) {
	hooks := &receiver{answer: domain.WebhookResult{Delivered: true}}
	p, clock, _, _ := firstAttemptSetup(hooks)
	ctx := context.Background()
	now := clock.now()
	req := domain.Request{RequestID: "r9", UserID: alice.UserID, Username: alice.Username, PhoneNumber: alice.PhoneNumber,
		CallbackURL: "https://shop.example/hook", Status: events.StatusSuccess, State: domain.StateSuccess, VoucherCode: "CODE"}
	p.Deliveries.Store = &insertRace{Store: p.Deliveries.Store, other: domain.Delivery{RequestID: "r9", Username: alice.Username,
		Channel: domain.ChannelWebhook, Status: domain.DeliveryPending, CallbackURL: req.CallbackURL, WebhookID: "msg_r9",
		NextAttemptAt: now, ClaimedUntil: now.Add(time.Minute), CreatedAt: now, UpdatedAt: now}}
	require.NoError(t, p.Deliveries.Ensure(ctx, req))
	assert.Zero(t, hooks.attempts(), "times the insert's loser called the webhook")
	ids, _ := p.Deliveries.Pending.All(ctx)
	assert.Equal(t, []string{"r9"}, ids, "sweep's index")
}

// TestSweepLeavesAFirstAttemptUnderWayAlone: the insert claims the first
// attempt, so a sweep that finds it meanwhile makes no second one.
func TestSweepLeavesAFirstAttemptUnderWayAlone(t *testing.T) {
	hooks := &receiver{answer: domain.WebhookResult{Delivered: true}}
	p, _, _, _ := firstAttemptSetup(hooks)
	ctx := context.Background()
	var during SweepSummary
	var duringErr error
	hooks.during = func() {
		if duringErr = p.Deliveries.Pending.Add(ctx, "r7"); duringErr == nil {
			during, duringErr = p.Deliveries.Sweep(ctx, time.Minute)
		}
	}
	req := domain.Request{RequestID: "r7", UserID: alice.UserID, Username: alice.Username, PhoneNumber: alice.PhoneNumber,
		CallbackURL: "https://shop.example/hook", Status: events.StatusSuccess, State: domain.StateSuccess, VoucherCode: "CODE"}
	require.NoError(t, p.Deliveries.Ensure(ctx, req))
	require.NoError(t, duringErr, "sweep during the first attempt")
	assert.Zero(t, during.Attempted, "sweep during the first attempt: %+v, want no attempt", during)
	assert.Equal(t, 1, hooks.attempts(), "webhook calls")
	d := deliveryOf(t, p, "r7")
	assert.Equal(t, domain.DeliveryDelivered, d.Status, "delivery %s, want DELIVERED after one attempt", brief(d))
	assert.Equal(t, 1, d.Attempts, "delivery %s, want DELIVERED after one attempt", brief(d))
	// The next sweep finds it delivered and drops it from the index.
	s, err := p.Deliveries.Sweep(ctx, time.Minute)
	require.NoError(t, err, "next sweep")
	assert.Zero(t, s.Attempted, "next sweep %+v", s)
	ids, _ := p.Deliveries.Pending.All(ctx)
	assert.Empty(t, ids, "sweep's index")
}
