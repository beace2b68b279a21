package app

import (
	"context"
	"errors"
	"time"

	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
)

// Limits locks a key after MaxFailures failures in a row, each lock twice
// the last. A success resets the count.
type Limits struct {
	Store persist.Store[domain.Strikes]
	Now   func() time.Time
	domain.LockRules
}

func limitKey(key string) string { return "limit|" + key }

// reservationLife frees the key of a try whose process died.
const reservationLife = 30 * time.Second

// Try is a reserved try: Succeeded or Failed settles it.
type Try struct {
	l     Limits
	key   string
	until time.Time
}

// Reserve takes a try before the costly check (a password hash). However
// many requests come at once, at most MaxFailures checks run between two
// locks.
func (l Limits) Reserve(ctx context.Context, key string) (Try, error) {
	now := l.Now()
	try := Try{l: l, key: key, until: now.Add(reservationLife)}
	var refusal error
	_, err := l.Store.Update(ctx, limitKey(key), func(st *domain.Strikes, _ bool) (*persist.Event, error) {
		var next domain.Strikes
		if next, refusal = l.LockRules.Reserve(*st, now, try.until); refusal != nil {
			return nil, persist.ErrNoChange
		}
		*st = next
		return nil, nil
	})
	if errors.Is(err, persist.ErrExists) {
		// Lost every ETag race: many tries at once for this key.
		return Try{}, domain.ErrBusy
	}
	if err != nil {
		return Try{}, err
	}
	if refusal != nil {
		return Try{}, refusal
	}
	return try, nil
}

func (t Try) held() bool { return t.l.Store != nil }

// Succeeded settles the try and forgets the key's failures.
func (t Try) Succeeded(ctx context.Context) {
	t.l.change(ctx, t.key, func(st domain.Strikes) domain.Strikes { return st.Succeed(t.until) })
}

// Abandon settles a try that was never made; it counts neither way.
func (t Try) Abandon(ctx context.Context) {
	t.l.change(ctx, t.key, func(st domain.Strikes) domain.Strikes { return st.Settle(t.until) })
}

// change applies fn in a settling context. On failure the reservation lapses.
func (l Limits) change(ctx context.Context, key string, fn func(domain.Strikes) domain.Strikes) {
	ctx, cancel := settling(ctx)
	defer cancel()
	_, _ = l.Store.Update(ctx, limitKey(key), func(st *domain.Strikes, exists bool) (*persist.Event, error) {
		if !exists {
			return nil, persist.ErrNoChange
		}
		*st = fn(*st)
		return nil, nil
	})
}

// Lift ends key's lock, once the owner proved who they are by SMS code.
func (l Limits) Lift(ctx context.Context, key string) {
	l.change(ctx, key, domain.Strikes.Lift)
}

// Failed settles the try as a failure and returns cause or the new lock.
func (t Try) Failed(ctx context.Context, cause error) error {
	ctx, cancel := settling(ctx)
	defer cancel()
	return t.l.fail(ctx, t.key, cause, t.until)
}

// Check refuses a locked key with 429 and Retry-After.
func (l Limits) Check(ctx context.Context, key string) error {
	st, _, err := l.Store.Get(ctx, limitKey(key))
	if err != nil {
		return err
	}
	return st.Locked(l.Now())
}

// Fail counts a failure and returns cause or the new lock.
func (l Limits) Fail(ctx context.Context, key string, cause error) error {
	return l.fail(ctx, key, cause, time.Time{})
}

func (l Limits) fail(ctx context.Context, key string, cause error, reserved time.Time) error {
	var lock time.Duration
	_, err := l.Store.Update(ctx, limitKey(key), func(st *domain.Strikes, _ bool) (*persist.Event, error) {
		*st, lock = l.LockRules.Fail(*st, reserved, l.Now())
		return nil, nil
	})
	if err != nil {
		return err
	}
	return domain.LockError(lock, cause)
}

// Reset forgets key's failures after a success.
func (l Limits) Reset(ctx context.Context, key string) {
	_, _ = l.Store.Update(ctx, limitKey(key), func(st *domain.Strikes, exists bool) (*persist.Event, error) {
		if !exists || st.Failures == 0 {
			return nil, persist.ErrNoChange
		}
		st.Failures = 0
		return nil, nil
	})
}

// settling outlives the request, so a client that hangs up neither holds its
// reservation nor escapes its failure.
func settling(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}
