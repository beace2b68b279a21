package work

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLanesHoldOneKeyToItsShareAndEveryKeyToTheTotal(t *testing.T) {
	l := NewLanes(3, 2, time.Minute)
	release := make(chan struct{})
	hold := func(context.Context) { <-release }
	ctx := context.Background()
	assert.True(t, l.TryGo(ctx, "a", hold), "a's first")
	assert.True(t, l.TryGo(ctx, "a", hold), "a's second")
	assert.False(t, l.TryGo(ctx, "a", hold), "a's third: a's share is taken")
	p, ok := l.Take("b")
	require.True(t, ok, "b's first: a place is left")
	assert.False(t, l.TryGo(ctx, "c", hold), "every place is taken")
	p.Release()
	p.Release() // a second release gives back nothing more
	all, ofA := l.Running("a")
	assert.Equal(t, 2, all, "running")
	assert.Equal(t, 2, ofA, "a's running")
	assert.True(t, l.TryGo(ctx, "c", hold), "b's place, given back")
	assert.False(t, l.TryGo(ctx, "d", hold), "full again")
	close(release)
	l.Idle()
	all, _ = l.Running("a")
	assert.Zero(t, all, "running after Idle")
}

func TestALanesJobOutlivesItsCallerButNotItsTimeout(t *testing.T) {
	l := NewLanes(1, 1, 50*time.Millisecond)
	caller, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	require.True(t, l.TryGo(caller, "a", func(ctx context.Context) {
		<-ctx.Done()
		ended <- ctx.Err()
	}))
	cancel()
	select {
	case err := <-ended:
		assert.ErrorIs(t, err, context.DeadlineExceeded, "ended by its timeout, not by the caller")
	case <-time.After(30 * time.Second):
		require.FailNow(t, "the job did not end at its timeout")
	}
	l.Idle()
}

func TestLanesIdleWaitsForEveryJobThenGivesThePlacesBack(t *testing.T) {
	l := NewLanes(2, 1, time.Minute)
	ctx := context.Background()
	done := make(chan struct{}, 2)
	for _, key := range []string{"a", "b"} {
		require.True(t, l.TryGo(ctx, key, func(context.Context) { time.Sleep(10 * time.Millisecond); done <- struct{}{} }))
	}
	l.Idle()
	assert.Len(t, done, 2, "both jobs ended before Idle returned")
	all, _ := l.Running("a")
	assert.Zero(t, all)
	p, ok := l.Take("a")
	require.True(t, ok, "a place after Idle")
	p.Release()
}
