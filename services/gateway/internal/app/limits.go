package app

import (
	"context"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
)

// Strikes counts failures of one kind for one key (a username, an account).
type Strikes struct {
	Failures    int       `json:"failures"`
	LockedUntil time.Time `json:"lockedUntil"`
	Locks       int       `json:"locks"`
}

// Limits locks a key for a while after MaxFailures failures in a row; each
// new lock lasts twice the last (capped at MaxLock), so guessing slows down
// the longer it goes on. A success resets the count.
type Limits struct {
	// Store has a TTL long enough to forget an idle key (MaxLock).
	Store       Store[Strikes]
	Now         func() time.Time
	MaxFailures int
	Lock        time.Duration
	MaxLock     time.Duration
}

func limitKey(key string) string { return "limit|" + key }

// Check refuses a locked key with 429 and Retry-After.
func (l Limits) Check(ctx context.Context, key string) error {
	st, _, _, err := l.Store.Get(ctx, limitKey(key))
	if err != nil {
		return err
	}
	if wait := st.LockedUntil.Sub(l.Now()); wait > 0 {
		return errs.Later(wait, "too many failed tries: locked for %s", wait.Round(time.Second))
	}
	return nil
}

// Fail counts a failure and returns cause, or the lock it set off.
func (l Limits) Fail(ctx context.Context, key string, cause error) error {
	var lock time.Duration
	_, err := l.Store.Update(ctx, limitKey(key), func(st *Strikes, _ bool) (*daprx.Event, error) {
		lock = 0
		st.Failures++
		if st.Failures >= l.MaxFailures {
			lock = l.Lock << min(st.Locks, 10)
			lock = min(lock, l.MaxLock)
			st.Failures, st.Locks, st.LockedUntil = 0, st.Locks+1, l.Now().Add(lock)
		}
		return nil, nil
	})
	if err != nil {
		return err
	}
	if lock > 0 {
		return errs.Later(lock, "too many failed tries: locked for %s", lock.Round(time.Second))
	}
	return cause
}

// Reset forgets the failures of key after a success.
func (l Limits) Reset(ctx context.Context, key string) {
	_, _ = l.Store.Update(ctx, limitKey(key), func(st *Strikes, exists bool) (*daprx.Event, error) {
		if !exists || st.Failures == 0 {
			return nil, daprx.ErrNoChange
		}
		st.Failures = 0
		return nil, nil
	})
}
