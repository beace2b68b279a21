package app

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestBacklogRefusesPastMaxAndFreesOnDone(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	b := &Backlog{Max: 3, Forget: time.Minute, RetryAfter: 2 * time.Second, Now: clock.now}
	ctx := context.Background()
	for i := range 3 {
		if err := b.Admit(ctx, fmt.Sprint("r", i)); err != nil {
			t.Fatalf("r%d: %v", i, err)
		}
	}
	err := b.Admit(ctx, "r3")
	if errs.KindOf(err) != errs.Unavailable || errs.RetryAfterOf(err) != 2*time.Second {
		t.Fatalf("past Max: %v (kind %v, retry after %v)", err, errs.KindOf(err), errs.RetryAfterOf(err))
	}
	b.Done("r1")
	if err := b.Admit(ctx, "r3"); err != nil {
		t.Fatalf("after one finished: %v", err)
	}
	// Entries are forgotten a minute after they were admitted.
	clock.t = clock.t.Add(time.Minute)
	if err := b.Admit(ctx, "r4"); err != nil || b.Open() != 1 {
		t.Fatalf("after a minute: %v, %d open", err, b.Open())
	}
	var none *Backlog
	if err := none.Admit(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	none.Done("x")
}

// TestBacklogAsksAboutPurchasesOtherReplicasFinished: a purchase whose
// outcome another replica recorded is found finished when the count is
// full, once per RecheckEvery, and frees its place.
func TestBacklogAsksAboutPurchasesOtherReplicasFinished(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	finished := map[string]bool{"r0": true}
	asked := 0
	b := &Backlog{Max: 2, Forget: time.Minute, RetryAfter: time.Second, Now: clock.now, Recheck: 8, RecheckEvery: time.Second,
		Finished: func(_ context.Context, id string) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			asked++
			return finished[id], nil
		}}
	ctx := context.Background()
	_ = b.Admit(ctx, "r0")
	_ = b.Admit(ctx, "r1")
	if err := b.Admit(ctx, "r2"); err != nil || asked != 2 {
		t.Fatalf("r0 was finished elsewhere: %v, asked %d", err, asked)
	}
	if err := b.Admit(ctx, "r3"); err == nil || asked != 2 {
		t.Fatalf("within RecheckEvery nothing is asked and r3 is refused: %v, asked %d", err, asked)
	}
	clock.t = clock.t.Add(time.Second)
	if err := b.Admit(ctx, "r3"); err == nil || asked != 4 {
		t.Fatalf("nothing finished: %v, asked %d", err, asked)
	}
}

// TestPurchasesPastTheBacklogAreRefused: the refused purchase is 503
// with Retry-After and stores no request; a completed one frees its place.
func TestPurchasesPastTheBacklogAreRefused(t *testing.T) {
	p, _ := metricsSetup(&receiver{answer: WebhookResult{Delivered: true}})
	p.Backlog = &Backlog{Max: 1, Forget: time.Minute, RetryAfter: time.Second, Now: time.Now}
	ctx := context.Background()
	buy := func() (Request, error) {
		r, _, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber}, "")
		return r, err
	}
	first, err := buy()
	if err != nil {
		t.Fatal(err)
	}
	refused, err := buy()
	if errs.KindOf(err) != errs.Unavailable || errs.RetryAfterOf(err) != time.Second || refused.RequestID != "" {
		t.Fatalf("second purchase: %+v %v", refused, err)
	}
	if err := p.Complete(ctx, events.ReceiveCode{RequestID: first.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "CODE"}); err != nil {
		t.Fatal(err)
	}
	if _, err := buy(); err != nil {
		t.Fatalf("after the first finished: %v", err)
	}
	if finished, err := p.Finished(ctx, first.RequestID); err != nil || !finished {
		t.Fatalf("Finished(first) = %v, %v", finished, err)
	}
}
