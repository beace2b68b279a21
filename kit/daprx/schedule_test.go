package daprx

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/testkit"
)

func testSchedule(clk *testClock) *Schedule {
	s := NewSchedule(testkit.NewMemState(), "s", "test", "replica-a", time.Minute)
	s.Now = clk.Now
	return s
}

func TestSweepGoesOnPastAnIDThatFailsAndComesBackToIt(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	s := testSchedule(clk)
	require.NoError(t, s.Add(ctx, "bad", 5*time.Second))
	require.NoError(t, s.Add(ctx, "good", 5*time.Second))
	failing := true
	var done []string
	work := func(_ context.Context, id string) error {
		if id == "bad" && failing {
			return errors.New("down")
		}
		done = append(done, id)
		return nil
	}
	counted := &testkit.Failures{}
	s.CountTo(counted)
	clk.Add(10 * time.Second)
	sum, err := s.Sweep(ctx, work)
	require.Error(t, err, "the failure is reported")
	assert.Equal(t, []string{"good"}, done, "and does not hold up the others")
	assert.Equal(t, 1, sum.Failed)
	assert.Equal(t, errs.Reasons{"internal": 1}, sum.Reasons, "with its reason")
	assert.Equal(t, map[string]int{"test/internal": 1, "test/pass/swept": 1, "test/items": 2}, counted.By(), "and counted under the schedule's name")

	failing = false
	clk.Add(retryAfter + 2*time.Second)
	_, err = s.Sweep(ctx, work)
	require.NoError(t, err)
	assert.Equal(t, []string{"good", "bad"}, done, "the failed id is looked at again")
}

func TestAnAddDueNowLandsWhereNoSweepHasBeen(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	s := testSchedule(clk)
	var done []string
	work := func(_ context.Context, id string) error { done = append(done, id); return nil }
	_, err := s.Sweep(ctx, work) // the cursor is now just behind the clock
	require.NoError(t, err)
	require.NoError(t, s.Add(ctx, "late", 0))
	_, err = s.Sweep(ctx, work)
	require.NoError(t, err)
	assert.Empty(t, done, "not in a second the sweep may be reading")
	clk.Add(5 * time.Second)
	_, err = s.Sweep(ctx, work)
	require.NoError(t, err)
	assert.Equal(t, []string{"late"}, done)
}

// countingState counts the reads and writes a schedule makes.
type countingState struct {
	*testkit.MemState
	gets, bulkGets, saves int
}

func (c *countingState) GetState(ctx context.Context, store, key string, meta map[string]string) (*dapr.StateItem, error) {
	c.gets++
	return c.MemState.GetState(ctx, store, key, meta)
}

func (c *countingState) GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, p int32) ([]*dapr.BulkStateItem, error) {
	c.bulkGets++
	return c.MemState.GetBulkState(ctx, store, keys, meta, p)
}

func (c *countingState) SaveBulkState(ctx context.Context, store string, items ...*dapr.SetStateItem) error {
	c.saves++
	return c.MemState.SaveBulkState(ctx, store, items...)
}

// Inserts need no read; appends start only once a replica tried every slot.
func TestAddsInsertIntoSlotsOfTheirOwnAndTwoReplicasLoseNothing(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	mem := &countingState{MemState: testkit.NewMemState()}
	replica := func(holder string) *Schedule {
		s := NewSchedule(mem, "s", "test", holder, time.Minute)
		s.Now, s.Shards = clk.Now, 4
		return s
	}
	a, b := replica("replica-a"), replica("replica-b")
	var want []string
	for i := range 6 {
		for _, s := range []*Schedule{a, b} {
			id := fmt.Sprintf("%s-%d", s.Holder, i)
			want = append(want, id)
			require.NoError(t, s.Add(ctx, id, 5*time.Second)) // one round each
		}
	}
	// 12 rounds into 4 slots: replicas collide, then append once all are tried.
	assert.Greater(t, mem.saves, 12, "a collision costs a failed insert")
	assert.Less(t, mem.gets, 12, "only appends read first (%d reads)", mem.gets)

	clk.Add(10 * time.Second)
	mem.bulkGets = 0
	var got []string
	sum, err := a.Sweep(ctx, func(_ context.Context, id string) error { got = append(got, id); return nil })
	require.NoError(t, err)
	assert.ElementsMatch(t, want, got, "every id of both replicas, once")
	assert.Equal(t, sum.Seconds, mem.bulkGets, "one read per second swept")
}

// Every replica's cron fires each tick, so idle passes must cost no write.
func TestASecondPassInTheSameTickWritesNothing(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	mem := &countingState{MemState: testkit.NewMemState()}
	a := NewSchedule(mem, "s", "test", "replica-a", time.Minute)
	b := NewSchedule(mem, "s", "test", "replica-b", time.Minute)
	counted := &testkit.Failures{}
	for _, s := range []*Schedule{a, b} {
		s.Now = clk.Now
		s.CountTo(counted)
	}
	require.NoError(t, a.Add(ctx, "x", time.Second))
	clk.Add(5 * time.Second)
	var got []string
	work := func(_ context.Context, id string) error { got = append(got, id); return nil }
	_, err := a.Sweep(ctx, work)
	require.NoError(t, err)
	saves := mem.saves
	sum, err := b.Sweep(ctx, work)
	require.NoError(t, err)
	assert.Equal(t, []string{"x"}, got, "swept once")
	assert.Zero(t, sum.Seconds, "b had nothing to sweep")
	assert.Equal(t, saves, mem.saves, "the idle pass wrote nothing")
	assert.Equal(t, 1, counted.By()["test/pass/idle"], "and was counted idle")

	clk.Add(time.Second) // the next tick: a second to sweep again
	sum, err = b.Sweep(ctx, work)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Seconds, "b sweeps the new second")
	assert.Equal(t, 2, counted.By()["test/pass/swept"], "a's pass and b's")
}
