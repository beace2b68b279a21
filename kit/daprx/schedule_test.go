package daprx

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	clk.Add(10 * time.Second)
	sum, err := s.Sweep(ctx, work)
	require.Error(t, err, "the failure is reported")
	assert.Equal(t, []string{"good"}, done, "and does not hold up the others")
	assert.Equal(t, 1, sum.Failed)

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
