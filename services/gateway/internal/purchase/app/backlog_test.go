package app

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestBacklogRefusesPastMaxAndFreesOnDone(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	b := &Backlog{Max: 3, Forget: time.Minute, RetryAfter: 2 * time.Second, Now: clock.now}
	ctx := context.Background()
	for i := range 3 {
		require.NoError(t, b.Admit(ctx, fmt.Sprint("r", i), "u"), "r%d", i)
	}
	err := b.Admit(ctx, "r3", "u")
	assert.Equal(t, errs.Unavailable, errs.KindOf(err), "past Max: %v", err)
	assert.Equal(t, 2*time.Second, errs.RetryAfterOf(err), "past Max: %v", err)
	b.Done("r1")
	require.NoError(t, b.Admit(ctx, "r3", "u"), "after one finished")
	// Entries are forgotten a minute after they were admitted.
	clock.t = clock.t.Add(time.Minute)
	require.NoError(t, b.Admit(ctx, "r4", "u"), "after a minute")
	assert.Equal(t, 1, b.Open(), "open after a minute")
	var none *Backlog
	require.NoError(t, none.Admit(ctx, "x", "u"))
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
	_ = b.Admit(ctx, "r0", "u")
	_ = b.Admit(ctx, "r1", "u")
	require.NoError(t, b.Admit(ctx, "r2", "u"), "r0 was finished elsewhere")
	assert.Equal(t, 2, asked, "asked once r0 was finished elsewhere")
	assert.Error(t, b.Admit(ctx, "r3", "u"), "within RecheckEvery r3 is refused")
	assert.Equal(t, 2, asked, "within RecheckEvery nothing is asked")
	clock.t = clock.t.Add(time.Second)
	assert.Error(t, b.Admit(ctx, "r3", "u"), "nothing finished: r3 is refused")
	assert.Equal(t, 4, asked, "asked when nothing finished")
}

// TestPurchasesPastTheBacklogAreRefused: the refused purchase is 503
// with Retry-After and stores no request; a completed one frees its place.
func TestPurchasesPastTheBacklogAreRefused(t *testing.T) {
	p, _ := metricsSetup(&receiver{answer: domain.WebhookResult{Delivered: true}})
	p.Backlog = &Backlog{Max: 1, Forget: time.Minute, RetryAfter: time.Second, Now: time.Now}
	ctx := context.Background()
	buy := func() (domain.Request, error) {
		r, _, err := p.Create(ctx, alice, PurchaseInput{PhoneNumber: alice.PhoneNumber}, "")
		return r, err
	}
	first, err := buy()
	require.NoError(t, err)
	refused, err := buy()
	assert.Equal(t, errs.Unavailable, errs.KindOf(err), "second purchase: %v", err)
	assert.Equal(t, time.Second, errs.RetryAfterOf(err), "second purchase: %v", err)
	assert.Empty(t, refused.RequestID, "second purchase: %+v", refused)
	require.NoError(t, p.Complete(ctx, events.ReceiveCode{RequestID: first.RequestID, PhoneNumber: alice.PhoneNumber, Status: events.StatusSuccess, VoucherCode: "CODE"}))
	_, err = buy()
	assert.NoError(t, err, "after the first finished")
	finished, err := p.Finished(ctx, first.RequestID)
	require.NoError(t, err, "Finished(first)")
	assert.True(t, finished, "Finished(first)")
}

// TestOneCustomerCannotFillTheBacklog: past PerCustomer only that customer
// gets 429.
func TestOneCustomerCannotFillTheBacklog(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	finished := map[string]bool{}
	b := &Backlog{Max: 10, PerCustomer: 2, Forget: time.Minute, RetryAfter: 2 * time.Second, Now: clock.now,
		Recheck: 8, RecheckEvery: time.Second,
		Finished: func(_ context.Context, id string) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return finished[id], nil
		}}
	ctx := context.Background()
	require.NoError(t, b.Admit(ctx, "m1", "mallory"))
	require.NoError(t, b.Admit(ctx, "m2", "mallory"))
	err := b.Admit(ctx, "m3", "mallory")
	require.Error(t, err)
	assert.Equal(t, errs.TooManyRequests, errs.KindOf(err), "%v", err)
	assert.Equal(t, 2*time.Second, errs.RetryAfterOf(err))
	require.NoError(t, b.Admit(ctx, "a1", "alice"), "another customer")
	assert.Equal(t, 3, b.Open())

	b.Done("m1")
	require.NoError(t, b.Admit(ctx, "m3", "mallory"), "one of hers finished here")
	mu.Lock()
	finished["m2"] = true // finished on another replica
	mu.Unlock()
	clock.t = clock.t.Add(time.Second)
	require.NoError(t, b.Admit(ctx, "m4", "mallory"), "one of hers finished elsewhere")
	assert.Error(t, b.Admit(ctx, "m5", "mallory"))
	clock.t = clock.t.Add(time.Minute)
	require.NoError(t, b.Admit(ctx, "m5", "mallory"), "forgotten after a minute")
}
