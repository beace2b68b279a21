package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// dyingOnIndex acts as a gateway killed between storing a delivery and
// indexing it.
type dyingOnIndex struct {
	daprx.StateClient
	fail bool
}

func (d *dyingOnIndex) dies(key string) bool {
	if d.fail && strings.Contains(key, "pending-webhooks") {
		d.fail = false
		return true
	}
	return false
}

var errKilled = errors.New("rpc error: code = Canceled desc = context canceled")

func (d *dyingOnIndex) SaveBulkState(ctx context.Context, store string, items ...*dapr.SetStateItem) error {
	for _, it := range items {
		if d.dies(it.Key) {
			return errKilled
		}
	}
	return d.StateClient.SaveBulkState(ctx, store, items...)
}

func (d *dyingOnIndex) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	for _, op := range ops {
		if d.dies(op.Item.Key) {
			return errKilled
		}
	}
	return d.StateClient.ExecuteStateTransaction(ctx, store, meta, ops)
}

// TestWebhookStoredButNotIndexedIsIndexedOnRedelivery: without the index
// entry no attempt is ever made, and the code never reaches the customer.
func TestWebhookStoredButNotIndexedIsIndexedOnRedelivery(t *testing.T) {
	p, _ := metricsSetup(&answering{answer: func(int) domain.WebhookResult { return domain.WebhookResult{Delivered: true} }})
	dying := &dyingOnIndex{StateClient: testkit.NewMemState()}
	p.Deliveries.Store = daprx.Store[domain.Delivery]{Client: dying, Name: "gateway-deliveries"}
	p.Deliveries.Pending = daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: dying, Name: "gateway-deliveries"}, Name: "pending-webhooks", Shards: 2}
	ctx := context.Background()
	req, _, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber, CallbackURL: "https://shop.example/hook"}, "")
	require.NoError(t, err)
	ev := events.ReceiveCode{RequestID: req.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "CODE"}

	dying.fail = true
	err = p.Complete(ctx, ev)
	require.Error(t, err, "first delivery of the event, want an error daprd retries")
	require.NotEqual(t, errs.Invalid, errs.KindOf(err), "first delivery of the event: %v, want an error daprd retries", err)
	ids, _ := p.Deliveries.Pending.All(ctx)
	require.Empty(t, ids, "index: the failure did not happen where this test means it to")
	require.NoError(t, p.Complete(ctx, ev)) // redelivered
	ids, _ = p.Deliveries.Pending.All(ctx)
	assert.Equal(t, []string{req.RequestID}, ids, "the sweep's index after the redelivery")
	s, err := p.Deliveries.Sweep(ctx, 0)
	require.NoError(t, err, "sweep")
	assert.Equal(t, 1, s.Delivered, "sweep %+v, want the webhook delivered", s)
}

type unreadableDeliveries struct {
	daprx.StateClient
	down bool
}

func (u *unreadableDeliveries) GetState(ctx context.Context, store, key string, meta map[string]string) (*dapr.StateItem, error) {
	if u.down && strings.HasPrefix(key, "delivery|") {
		return nil, errors.New("rpc error: code = Unavailable desc = store down")
	}
	return u.StateClient.GetState(ctx, store, key, meta)
}

// TestAWebhookSweepCountsAndLogsWhatItCouldNotAttempt: a delivery the sweep
// cannot claim waits for the next, and the sweep reports it.
func TestAWebhookSweepCountsAndLogsWhatItCouldNotAttempt(t *testing.T) {
	p, _ := metricsSetup(&answering{answer: func(int) domain.WebhookResult { return domain.WebhookResult{Delivered: true} }})
	store := &unreadableDeliveries{StateClient: testkit.NewMemState()}
	p.Deliveries.Store = daprx.Store[domain.Delivery]{Client: store, Name: "gateway-deliveries"}
	p.Deliveries.Pending = daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: store, Name: "gateway-deliveries"}, Name: "pending-webhooks", Shards: 2}
	var logged strings.Builder
	p.Deliveries.Log = slog.New(slog.NewTextHandler(&logged, nil))
	counted := &testkit.Failures{}
	p.Deliveries.Failures = counted
	ctx := context.Background()
	due := domain.Delivery{RequestID: "r1", Username: "alice", Channel: domain.ChannelWebhook, Status: domain.DeliveryPending,
		NextAttemptAt: p.Now()}
	require.NoError(t, p.Deliveries.Store.Insert(ctx, deliveryKey("r1"), due, nil))
	require.NoError(t, p.Deliveries.Pending.Add(ctx, "r1"))
	store.down = true // its claim cannot be read
	s, err := p.Deliveries.Sweep(ctx, 0)
	require.NoError(t, err, "the sweep goes on")
	assert.Equal(t, errs.Reasons{"unavailable": 1}, s.Errors, "summary")
	assert.Equal(t, map[string]int{"webhook-sweep/unavailable": 1}, counted.By(), "counted")
	assert.Contains(t, logged.String(), "purchase_id=r1", "logged with the purchase")
	assert.Contains(t, logged.String(), "reason=unavailable", "logged with its reason")
	ids, _ := p.Deliveries.Pending.All(ctx)
	assert.Equal(t, []string{"r1"}, ids, "still pending for the next sweep")
}
