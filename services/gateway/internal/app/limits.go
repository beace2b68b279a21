package app

import (
	"context"
	"errors"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
)

// Strikes counts failures of one kind for one key (a username, an account).
type Strikes struct {
	Failures    int       `json:"failures"`
	LockedUntil time.Time `json:"lockedUntil"`
	Locks       int       `json:"locks"`
	// Pending are the tries reserved and not yet settled, by the time each
	// reservation lapses (a try whose process died is forgotten then).
	Pending []time.Time `json:"pending,omitempty"`
}

// live drops the reservations that lapsed by now.
func (st *Strikes) live(now time.Time) {
	kept := st.Pending[:0]
	for _, until := range st.Pending {
		if until.After(now) {
			kept = append(kept, until)
		}
	}
	st.Pending = kept
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

// reservationLife bounds how long a reserved try may take before it is
// forgotten (a try whose process died must not hold the key for ever).
const reservationLife = 30 * time.Second

// Try is a reserved try: Succeeded or Failed settles it.
type Try struct {
	l     Limits
	key   string
	until time.Time
}

// Reserve takes one try for key before the costly check is made (a password
// hash): a locked key, or one whose failures and tries in progress already
// make MaxFailures, is refused with 429 at once. However many requests come
// at the same time, at most MaxFailures checks run or fail between two
// locks, and each lock makes the next wait longer.
func (l Limits) Reserve(ctx context.Context, key string) (Try, error) {
	now := l.Now()
	try := Try{l: l, key: key, until: now.Add(reservationLife)}
	var refusal error
	_, err := l.Store.Update(ctx, limitKey(key), func(st *Strikes, _ bool) (*persist.Event, error) {
		refusal = nil
		if wait := st.LockedUntil.Sub(now); wait > 0 {
			refusal = errs.Later(wait, "too many failed tries: locked for %s", wait.Round(time.Second))
			return nil, persist.ErrNoChange
		}
		st.live(now)
		if st.Failures+len(st.Pending) >= l.MaxFailures {
			refusal = errs.Later(time.Second, "too many tries at once: try again in a second")
			return nil, persist.ErrNoChange
		}
		st.Pending = append(st.Pending, try.until)
		return nil, nil
	})
	if errors.Is(err, persist.ErrExists) {
		// Lost every ETag race: many tries at once for this key.
		return Try{}, errs.Later(time.Second, "too many tries at once: try again in a second")
	}
	if err != nil {
		return Try{}, err
	}
	if refusal != nil {
		return Try{}, refusal
	}
	return try, nil
}

// held tells a reserved try from the zero Try.
func (t Try) held() bool { return t.l.Store != nil }

// Succeeded settles the try and forgets the failures of its key.
func (t Try) Succeeded(ctx context.Context) {
	t.l.change(ctx, t.key, func(st *Strikes) {
		st.settle(t.until)
		st.Failures = 0
	})
}

// Abandon settles a try that was not made (the store failed, or no hashing
// slot was free): it counts neither way.
func (t Try) Abandon(ctx context.Context) {
	t.l.change(ctx, t.key, func(st *Strikes) { st.settle(t.until) })
}

// change applies fn to key's strikes, if there are any, in a settling
// context; a failure leaves the reservation to lapse.
func (l Limits) change(ctx context.Context, key string, fn func(*Strikes)) {
	ctx, cancel := settling(ctx)
	defer cancel()
	_, _ = l.Store.Update(ctx, limitKey(key), func(st *Strikes, exists bool) (*persist.Event, error) {
		if !exists {
			return nil, persist.ErrNoChange
		}
		fn(st)
		return nil, nil
	})
}

// Lift ends the lock of key and forgets its failures (the owner proved
// who they are another way: a code sent to their phone).
func (l Limits) Lift(ctx context.Context, key string) {
	l.change(ctx, key, func(st *Strikes) { st.Failures, st.LockedUntil = 0, time.Time{} })
}

// Failed settles the try as a failure and returns cause, or the lock it set
// off.
func (t Try) Failed(ctx context.Context, cause error) error {
	ctx, cancel := settling(ctx)
	defer cancel()
	return t.l.fail(ctx, t.key, cause, t.until)
}

// settle removes one reservation made for until (if it has not lapsed).
func (st *Strikes) settle(until time.Time) {
	for i, u := range st.Pending {
		if u.Equal(until) {
			st.Pending = append(st.Pending[:i], st.Pending[i+1:]...)
			return
		}
	}
}

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
	return l.fail(ctx, key, cause, time.Time{})
}

func (l Limits) fail(ctx context.Context, key string, cause error, reserved time.Time) error {
	var lock time.Duration
	_, err := l.Store.Update(ctx, limitKey(key), func(st *Strikes, _ bool) (*persist.Event, error) {
		lock = 0
		st.settle(reserved)
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
	_, _ = l.Store.Update(ctx, limitKey(key), func(st *Strikes, exists bool) (*persist.Event, error) {
		if !exists || st.Failures == 0 {
			return nil, persist.ErrNoChange
		}
		st.Failures = 0
		return nil, nil
	})
}

// settling is the context a try is settled in: not the request's, which
// ends when the client goes away, so that a client that hangs up halfway
// neither holds its reservation nor escapes its failure.
func settling(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}
