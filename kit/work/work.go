// Package work runs the slow part of an event's handling in the background,
// so the broker's next delivery does not wait for it.
package work

import (
	"context"
	"time"

	"golang.org/x/sync/semaphore"
)

// Pool runs a job in the caller when full, holding the broker back instead of
// piling up goroutines. A nil Pool always runs in the caller.
type Pool struct {
	slots   *semaphore.Weighted
	size    int64
	timeout time.Duration
}

// NewPool gives each job timeout.
func NewPool(size int, timeout time.Duration) *Pool {
	return &Pool{slots: semaphore.NewWeighted(int64(size)), size: int64(size), timeout: timeout}
}

// Do drops ctx's cancellation, because the request may end first.
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

// Hand returns job's error only from a nil Pool, so the broker redelivers.
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

// Idle waits for background jobs. Meanwhile new jobs run in their callers.
func (p *Pool) Idle() {
	if p == nil {
		return
	}
	_ = p.slots.Acquire(context.Background(), p.size)
	p.slots.Release(p.size)
}
