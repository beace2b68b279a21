// Package work runs the slow part of an event's handling in the background,
// once the part that must not be lost is stored: the broker's delivery of
// the next event does not wait for it.
package work

import (
	"context"
	"time"

	"golang.org/x/sync/semaphore"
)

// Pool runs up to its size of jobs at once in the background; a job that
// finds every slot taken runs in the caller, which holds the caller (and so
// the broker's next delivery) back instead of piling up goroutines. A nil
// Pool runs every job in the caller.
type Pool struct {
	slots   *semaphore.Weighted
	size    int64
	timeout time.Duration
}

// NewPool is a pool of size slots whose jobs each get timeout.
func NewPool(size int, timeout time.Duration) *Pool {
	return &Pool{slots: semaphore.NewWeighted(int64(size)), size: int64(size), timeout: timeout}
}

// Do runs job with ctx's values but not its cancellation: the request that
// handed the job over may end first.
func (p *Pool) Do(ctx context.Context, job func(context.Context)) {
	if p == nil {
		job(ctx)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	if !p.slots.TryAcquire(1) {
		defer cancel()
		job(ctx)
		return
	}
	go func() {
		defer p.slots.Release(1)
		defer cancel()
		job(ctx)
	}()
}

// Hand hands job over: with a nil Pool it runs in the caller, which gets its
// error (a handler then lets the broker deliver again); otherwise it runs
// through Do, and an error goes to failed (the repair is someone else's: a
// reconciler, a sweep).
func (p *Pool) Hand(ctx context.Context, job func(context.Context) error, failed func(context.Context, error)) error {
	if p == nil {
		return job(ctx)
	}
	p.Do(ctx, func(ctx context.Context) {
		if err := job(ctx); err != nil {
			failed(ctx, err)
		}
	})
	return nil
}

// Idle waits until no job runs in the background (tests, shutdown). While
// it waits, new jobs run in their callers.
func (p *Pool) Idle() {
	if p == nil {
		return
	}
	_ = p.slots.Acquire(context.Background(), p.size)
	p.slots.Release(p.size)
}
