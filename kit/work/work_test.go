package work

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPoolRunsInTheBackgroundUpToItsSizeThenInTheCaller(t *testing.T) {
	p := NewPool(2, time.Minute)
	release := make(chan struct{})
	var background sync.WaitGroup
	background.Add(2)
	for range 2 {
		p.Do(context.Background(), func(context.Context) { background.Done(); <-release })
	}
	background.Wait() // both run at once, and Do returned before they ended
	ranInCaller := false
	p.Do(context.Background(), func(context.Context) { ranInCaller = true })
	assert.True(t, ranInCaller, "a full pool runs the job in the caller")
	close(release)
	p.Idle()
}

func TestPoolJobOutlivesTheCallersContext(t *testing.T) {
	p := NewPool(1, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	var err atomic.Value
	started := make(chan struct{})
	p.Do(ctx, func(ctx context.Context) {
		<-started
		err.Store(ctx.Err() == nil)
	})
	cancel()
	close(started)
	p.Idle()
	assert.Equal(t, true, err.Load(), "the handler's request ended; the job goes on")
}

func TestHandReturnsTheErrorOnlyWhenTheJobRanInTheCaller(t *testing.T) {
	boom := assert.AnError
	var nilPool *Pool
	assert.ErrorIs(t, nilPool.Hand(context.Background(), func(context.Context) error { return boom },
		func(context.Context, error) { t.Error("a nil pool reports to its caller") }), boom)

	p := NewPool(1, time.Minute)
	var reported atomic.Value
	assert.NoError(t, p.Hand(context.Background(), func(context.Context) error { return boom },
		func(_ context.Context, err error) { reported.Store(err) }))
	p.Idle()
	assert.Equal(t, boom, reported.Load())
}

func TestNilPoolRunsInTheCaller(t *testing.T) {
	var p *Pool
	n := 0
	p.Do(context.Background(), func(context.Context) { n++ })
	assert.Equal(t, 1, n)
	p.Idle()
}

func TestPoolRunsInTheBackgroundAgainAfterIdle(t *testing.T) {
	p := NewPool(1, time.Minute)
	var ran atomic.Int32
	p.Do(context.Background(), func(context.Context) { time.Sleep(10 * time.Millisecond); ran.Add(1) })
	p.Idle()
	assert.Equal(t, int32(1), ran.Load(), "Idle waited for the job")
	release := make(chan struct{})
	p.Do(context.Background(), func(context.Context) { <-release })
	ranInCaller := false
	p.Do(context.Background(), func(context.Context) { ranInCaller = true })
	assert.True(t, ranInCaller, "the slot Idle gave back was taken by the first job")
	close(release)
	p.Idle()
}
