package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/kit/work"
	"github.com/bankabc/vouchers/services/gateway/internal/customer"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// hangingFor hangs on the hung customer's webhooks and answers 2xx to others.
type hangingFor struct {
	hung      string
	release   chan struct{}
	delivered chan string
}

func (h *hangingFor) Send(ctx context.Context, url, webhookID, _ string, _ []byte) domain.WebhookResult {
	if strings.Contains(url, h.hung) {
		select {
		case <-h.release:
		case <-ctx.Done():
		}
		return domain.WebhookResult{Err: "no answer"}
	}
	h.delivered <- webhookID
	return domain.WebhookResult{Delivered: true}
}

var mallory = customer.Session{UserID: "u2", Username: "mallory", PhoneNumber: "+84909123451", PhoneVerified: true}

// fairSetup runs attempts in Lanes of 8 places, 2 for one customer.
func fairSetup(t *testing.T, hooks Webhooks) (Purchases, *testClock, *testkit.MemState) {
	t.Helper()
	p, clock := metricsSetup(hooks)
	p.Deliveries.Secrets.(secrets)["mallory"] = "whsec_m"
	p.Deliveries.Lanes = work.NewLanes(8, 2, time.Minute)
	p.Deliveries.Counts = &PendingCounts{}
	return p, clock, p.Deliveries.Store.(daprx.Store[domain.Delivery]).Client.(*testkit.MemState)
}

// pendingWebhook stores a webhook as a sweep finds one that failed before.
func pendingWebhook(t *testing.T, p Purchases, id, username string, due time.Time) {
	t.Helper()
	ctx := context.Background()
	body, err := p.Deliveries.Codec.Encode(domain.Webhook{
		RequestID: id, Status: events.StatusSuccess, State: domain.StateSuccess, VoucherCode: "CODE-" + id})
	require.NoError(t, err)
	del := domain.Delivery{RequestID: id, Username: username, PhoneNumber: "+8490912345" + id[len(id)-1:], Channel: domain.ChannelWebhook,
		Status: domain.DeliveryPending, CallbackURL: "https://" + username + ".example/hook", WebhookID: "msg_" + id, Body: body,
		Attempts: 1, NextAttemptAt: due, CreatedAt: due.Add(-time.Second)}
	require.NoError(t, p.Deliveries.Store.Insert(ctx, deliveryKey(id), del, nil))
	require.NoError(t, p.Deliveries.Pending.Add(ctx, id))
}

// TestOneCustomersHangingReceiverDoesNotHoldUpAnother is finding 1 of the
// black-box review. Mallory's 100 hanging webhooks must not delay alice's.
func TestOneCustomersHangingReceiverDoesNotHoldUpAnother(t *testing.T) {
	hooks := &hangingFor{hung: "mallory", release: make(chan struct{}), delivered: make(chan string, 4)}
	p, clock, _ := fairSetup(t, hooks)
	lanes := p.Deliveries.Lanes
	t.Cleanup(func() { close(hooks.release); lanes.Idle() })
	ctx := context.Background()
	for i := range 100 {
		pendingWebhook(t, p, fmt.Sprintf("m%03d", i), "mallory", clock.now().Add(-time.Minute+time.Duration(i)*time.Millisecond))
	}
	pendingWebhook(t, p, "a1", "alice", clock.now())

	s, err := p.Deliveries.Sweep(ctx, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 3, s.Started, "started: mallory's first 2 and alice's, %+v", s)
	assert.Equal(t, 98, s.Deferred, "the rest of mallory's wait for a place, %+v", s)
	assert.Equal(t, "msg_a1", waitFor(t, hooks.delivered), "alice's webhook")
	all, malloryRunning := lanes.Running("mallory")
	assert.Equal(t, 2, malloryRunning, "mallory's attempts under way")
	assert.LessOrEqual(t, all, 3, "attempts under way: mallory's, and alice's while it records its outcome")

	pendingWebhook(t, p, "a2", "alice", clock.now())
	s, err = p.Deliveries.Sweep(ctx, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 1, s.Started, "alice's second, while mallory's hang: %+v", s)
	assert.Equal(t, "msg_a2", waitFor(t, hooks.delivered), "alice's second webhook")
}

func waitFor(t *testing.T, c <-chan string) string {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(30 * time.Second):
		require.FailNow(t, "nothing came")
		return ""
	}
}

// TestAnOverdueWebhookGoesBySMSWithoutWaitingForAPlace: with every place
// taken, an overdue webhook's code must not wait for one.
func TestAnOverdueWebhookGoesBySMSWithoutWaitingForAPlace(t *testing.T) {
	hooks := &hangingFor{hung: "mallory", release: make(chan struct{}), delivered: make(chan string, 4)}
	p, clock, dmem := fairSetup(t, hooks)
	p.Deliveries.Lanes = work.NewLanes(1, 1, time.Minute)
	p.Deliveries.OverdueAfter = 2 * time.Minute
	lanes := p.Deliveries.Lanes
	t.Cleanup(func() { close(hooks.release); lanes.Idle() })
	ctx := context.Background()
	pendingWebhook(t, p, "m1", "mallory", clock.now().Add(-time.Minute))
	pendingWebhook(t, p, "a1", "alice", clock.now().Add(-3*time.Minute))
	require.True(t, lanes.TryGo(ctx, "mallory", func(ctx context.Context) { <-hooks.release }), "the only place, taken")

	s, err := p.Deliveries.Sweep(ctx, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 1, s.Overdue, "%+v", s)
	assert.Equal(t, 1, s.Deferred, "mallory's, not overdue yet, waits: %+v", s)
	got, err := p.Deliveries.Of(ctx, "a1")
	require.NoError(t, err)
	assert.Equal(t, domain.DeliverySMSQueued, got.Status, "%+v", got)
	assert.True(t, got.FellBack, "%+v", got)
	assert.Equal(t, "not attempted in time", got.LastError, "%+v", got)
	sms := dmem.Events(events.TopicSendSMS)
	require.Len(t, sms, 1, "send-sms published with the fallback")
	assert.Empty(t, hooks.delivered, "no attempt was made")
	ids, err := p.Deliveries.Pending.All(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"m1"}, ids, "only mallory's is left pending")
}

// TestACustomerWithTooManyPendingWebhooksIsRefusedMore: the refusal comes
// before anything is bought, and other customers are not held back.
func TestACustomerWithTooManyPendingWebhooksIsRefusedMore(t *testing.T) {
	p, clock, _ := fairSetup(t, &hangingFor{release: make(chan struct{})})
	p.Deliveries.MaxPendingPerCustomer = 3
	ctx := context.Background()
	for i := range 3 {
		pendingWebhook(t, p, fmt.Sprintf("m%d", i), "mallory", clock.now().Add(time.Hour)) // not due: nothing sent
	}
	_, _, err := p.Create(ctx, mallory, PurchaseInput{PhoneNumber: mallory.PhoneNumber, CallbackURL: "https://mallory.example/hook"}, "")
	require.NoError(t, err, "before a sweep counted them")

	_, err = p.Deliveries.Sweep(ctx, time.Minute)
	require.NoError(t, err)
	_, _, err = p.Create(ctx, mallory, PurchaseInput{PhoneNumber: mallory.PhoneNumber, CallbackURL: "https://mallory.example/hook"}, "")
	require.Error(t, err)
	assert.Equal(t, errs.TooManyRequests, errs.KindOf(err), "%v", err)
	assert.Contains(t, err.Error(), "3 webhooks to your callbackUrl are still waiting", "%v", err)
	assert.Positive(t, errs.RetryAfterOf(err), "Retry-After")
	_, _, err = p.Create(ctx, mallory, PurchaseInput{PhoneNumber: mallory.PhoneNumber}, "")
	assert.NoError(t, err, "without a callbackUrl")
	_, _, err = p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber, CallbackURL: "https://alice.example/hook"}, "")
	assert.NoError(t, err, "another customer")
}
