package app

import (
	"context"
	"errors"
	"strings"
	"testing"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/testkit"
)

// dyingOnIndex is a state store whose next write to the sweep's index
// fails, as when gateway is killed between storing a delivery and indexing it.
type dyingOnIndex struct {
	daprx.StateClient
	fail bool
}

// dies tells whether a write of key is the one that fails, once.
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

// TestWebhookStoredButNotIndexedIsIndexedOnRedelivery: receive-code is
// handled up to the delivery's insert, then the index write fails (gateway
// killed). The event comes again; the webhook must end in the sweep's index,
// or no attempt is ever made and the code never reaches the customer.
func TestWebhookStoredButNotIndexedIsIndexedOnRedelivery(t *testing.T) {
	p, _ := metricsSetup(&answering{answer: func(int) WebhookResult { return WebhookResult{Delivered: true} }})
	dying := &dyingOnIndex{StateClient: testkit.NewMemState()}
	p.Deliveries.Store = daprx.Store[Delivery]{Client: dying, Name: "gateway-deliveries"}
	p.Deliveries.Pending = daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: dying, Name: "gateway-deliveries"}, Name: "pending-webhooks", Shards: 2}
	ctx := context.Background()
	req, _, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber, CallbackURL: "https://shop.example/hook"}, "")
	if err != nil {
		t.Fatal(err)
	}
	ev := events.ReceiveCode{RequestID: req.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "CODE"}

	dying.fail = true
	if err := p.Complete(ctx, ev); err == nil || errs.KindOf(err) == errs.Invalid {
		t.Fatalf("first delivery of the event: %v, want an error daprd retries", err)
	}
	if ids, _ := p.Deliveries.Pending.All(ctx); len(ids) != 0 {
		t.Fatalf("index %v: the failure did not happen where this test means it to", ids)
	}
	if err := p.Complete(ctx, ev); err != nil { // redelivered
		t.Fatal(err)
	}
	ids, _ := p.Deliveries.Pending.All(ctx)
	if len(ids) != 1 || ids[0] != req.RequestID {
		t.Fatalf("after the redelivery the sweep's index holds %v, want [%s]", ids, req.RequestID)
	}
	s, err := p.Deliveries.Sweep(ctx, 0)
	if err != nil || s.Delivered != 1 {
		t.Fatalf("sweep %+v %v, want the webhook delivered", s, err)
	}
}
