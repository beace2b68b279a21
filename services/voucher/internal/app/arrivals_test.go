package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/testkit"
)

// waitFor returns once n reads wait on a.
func waitFor(t *testing.T, a App, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return a.Arrivals.Waiting() == n }, 10*time.Second, time.Millisecond)
}

func TestAwaitIsHandedTheVoucherStoredMeanwhile(t *testing.T) {
	a, ctx := newApp(), context.Background()
	a.Arrivals = NewArrivals()
	got := make(chan error, 1)
	go func() {
		v, err := a.Await(ctx, "r1", MaxWait)
		if err == nil && v.VoucherCode != "AAAA-BBBB-CCCC" {
			err = errs.E(errs.Internal, "handed %+v", v)
		}
		got <- err
	}()
	waitFor(t, a, 1)
	require.NoError(t, a.Store(ctx, received("r1", "+84909123456", "AAAA-BBBB-CCCC", time.Now())))
	require.NoError(t, <-got)
	assert.Zero(t, a.Arrivals.Waiting(), "nothing left waiting")
}

func TestAwaitFindsAVoucherAnotherReplicaStored(t *testing.T) {
	mem, ctx := testkit.NewMemState(), context.Background()
	here, there := newAppOn(mem), newAppOn(mem)
	here.Arrivals, there.Arrivals = NewArrivals(), NewArrivals()
	got := make(chan error, 1)
	go func() {
		_, err := here.Await(ctx, "r1", MaxWait)
		got <- err
	}()
	waitFor(t, here, 1)
	require.NoError(t, there.Store(ctx, received("r1", "+84909123456", "AAAA-BBBB-CCCC", time.Now())))
	require.NoError(t, <-got, "found by a read, not handed over")
}

func TestAwaitEndsNotFoundWhenNothingIsStored(t *testing.T) {
	a := newApp()
	a.Arrivals = NewArrivals()
	_, err := a.Await(context.Background(), "r1", 20*time.Millisecond)
	assert.Equal(t, errs.NotFound, errs.KindOf(err))
	_, err = a.Await(context.Background(), "r1", MaxWait+time.Millisecond)
	assert.Equal(t, errs.Invalid, errs.KindOf(err), "longer than MaxWait")
	assert.Zero(t, a.Arrivals.Waiting())
}

func TestAwaitWithoutWaitReadsOnce(t *testing.T) {
	a, ctx := newApp(), context.Background()
	a.Arrivals = NewArrivals()
	_, err := a.Await(ctx, "r1", 0)
	assert.Equal(t, errs.NotFound, errs.KindOf(err))
	require.NoError(t, a.Store(ctx, received("r1", "+84909123456", "AAAA-BBBB-CCCC", time.Now())))
	v, err := a.Await(ctx, "r1", 0)
	require.NoError(t, err)
	assert.Equal(t, "AAAA-BBBB-CCCC", v.VoucherCode)
}
