package daprx

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
)

// Schedule keeps ids in time buckets, by the second each comes due, so that
// a sweep finds what is due without listing keys (Dapr's state API cannot
// list them portably). Key <Name>|<unix second>|<shard>: a sweep reads only
// the buckets of the seconds that came due since the last one, whatever the
// number of ids, and nothing is removed when an id is done (buckets expire
// with the Buckets store's TTL).
//
// Adds are group-committed: while one bucket write is on its way the ids
// that arrive wait together for the next, and each caller returns once its
// id is stored. One bucket key written by every caller would serialise them
// all on its ETag (measured on the redrive: 503s from 500 purchases/s on).
//
// Each second has Shards slots. A round takes a slot of its own, a key
// nobody wrote yet, with an insert (one write, no read: a slot another
// replica took first is skipped); only once this replica has tried every
// slot of a second does a round append to one (a read and an ETag-checked
// write). A sweep reads all the slots of a second in one bulk read.
//
// Sweeps take a lease on the cursor first, so one replica sweeps at a time;
// the cursor moves after the work, so a sweep that dies is repeated (by the
// next holder once the lease runs out), never skipped.
type Schedule struct {
	Buckets Store[Bucket]
	Cursors Store[SweepCursor]
	Name    string
	Shards  int
	// Lease is how long a sweep may hold the schedule before another replica
	// may take it over (a sweep that outlives it may run beside the next).
	Lease time.Duration
	// Holder names this replica in the lease.
	Holder string
	Now    func() time.Time
	// Log, if set, reports seconds skipped because nobody swept them in
	// time, and each id whose work failed.
	Log *slog.Logger
	// Failures, if set, counts the ids whose work failed in a sweep, by
	// reason, under the schedule's name (kit/metrics.Sweeps).
	Failures FailureCounter

	adds batcher[scheduled]
	once sync.Once
	// slots: per second, how many of its slots this replica has tried
	// (only the batcher's goroutine uses it).
	slots map[int64]int
	shard atomic.Uint32
}

// ScheduleLease is how long a sweep holds a schedule. A replica killed
// while holding one stalls that schedule until the lease runs out. With a
// 30 s lease, killing one gateway and one voucher-int of two took 33-34 s
// to settle; with a 6 s lease, 17.5 s. A sweep stops at half the lease,
// so one that outlives it is rare, and its work is idempotent anyway.
const ScheduleLease = 10 * time.Second

// NewSchedule is a schedule kept in one state store under keys named name.
// holder names this replica in the lease; longest is the longest delay
// anything is added with (the buckets outlive it by BucketLife).
func NewSchedule(c StateClient, store, name, holder string, longest time.Duration) *Schedule {
	return &Schedule{
		Buckets: Store[Bucket]{Client: c, Name: store, TTL: longest + BucketLife},
		Cursors: Store[SweepCursor]{Client: c, Name: store},
		Name:    name, Shards: 64, Lease: ScheduleLease, Holder: holder, Now: time.Now,
	}
}

// LogTo sets Log and returns s.
func (s *Schedule) LogTo(log *slog.Logger) *Schedule {
	s.Log = log
	return s
}

// CountTo sets Failures and returns s.
func (s *Schedule) CountTo(c FailureCounter) *Schedule {
	s.Failures = c
	return s
}

// FailureCounter counts the failures of one pass of a sweep, by reason
// (persist.FailureCounter).
type FailureCounter = persist.FailureCounter

// PassCounter, when the FailureCounter is one too (kit/metrics.Sweeps),
// counts every pass of a sweep by outcome: "swept" (this replica held the
// schedule and looked at items ids), "held" (another replica held it:
// nothing done), "idle" (another replica's pass had swept it up to now:
// nothing done, nothing written), "failed" (the schedule could not be
// taken). With
// replicas, each cron tick fires on every one: the counts tell how many
// passes did the work and how many stood aside.
type PassCounter interface {
	Passed(sweep, outcome string, items int)
}

func (s *Schedule) passed(outcome string, items int) {
	if c, ok := s.Failures.(PassCounter); ok {
		c.Passed(s.Name, outcome, items)
	}
}

// Bucket holds the ids due in one second (one shard of it).
type Bucket struct {
	IDs []string `json:"ids"`
}

// SweepCursor is the last second every bucket of which was swept, and the
// sweep that holds the schedule now, if any.
type SweepCursor struct {
	Second int64     `json:"second"`
	Holder string    `json:"holder,omitempty"`
	Until  time.Time `json:"until,omitzero"`
}

// SweepSummary counts what one sweep did (persist.SweepSummary).
type SweepSummary = persist.SweepSummary

// BucketLife is how long a bucket outlives the second it came due (the
// Buckets store's TTL is the longest delay plus this): a sweep that was away
// longer finds nothing older, and starts there.
const BucketLife = time.Hour

// maxCatchUp bounds the seconds one sweep works through after the app was
// away; the next sweep goes on.
const maxCatchUp = 120

// sweepGrace: a sweep leaves the last seconds alone, and an add that would
// land in a second that close is written to a later one, so that an add on
// its way is never behind the cursor.
const sweepGrace = 1

// retryAfter is when an id whose work failed is looked at again.
const retryAfter = 5 * time.Second

var errHeld = errors.New("schedule held by another sweep")

// errUpToDate: the schedule was swept up to the last second a sweep may
// take (another replica's pass of the same tick did it). Nothing is
// written, not even the lease.
var errUpToDate = errors.New("schedule swept up to now")

type scheduled struct {
	id   string
	due  int64
	done chan error
}

func (s *Schedule) key(second int64, shard int) string {
	return fmt.Sprintf("%s|%d|%d", s.Name, second, shard)
}

func (s *Schedule) cursorKey() string { return s.Name + "-cursor" }

// Add schedules id for a sweep after the given delay, and returns once the
// id is stored.
func (s *Schedule) Add(ctx context.Context, id string, after time.Duration) error {
	s.once.Do(func() { s.adds.round = s.write })
	done := make(chan error, 1)
	s.adds.add(scheduled{id: id, due: s.Now().Add(after).Unix(), done: done})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write stores one round of adds: one bucket write per second due. An add
// due so soon that a sweep may be reading its second goes to a later one
// (due is a "not before").
func (s *Schedule) write(batch []scheduled) {
	earliest := s.Now().Unix() + 2*sweepGrace
	bySecond := map[int64][]scheduled{}
	for _, p := range batch {
		sec := max(p.due, earliest)
		bySecond[sec] = append(bySecond[sec], p)
	}
	for sec, group := range bySecond {
		ids := make([]string, len(group))
		for i, p := range group {
			ids[i] = p.id
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.store(ctx, sec, ids)
		cancel()
		for _, p := range group {
			p.done <- err
		}
	}
	for sec := range s.slots {
		if sec < earliest-2*sweepGrace {
			delete(s.slots, sec)
		}
	}
}

// store writes ids into a slot of second: a fresh one while this replica
// has not tried them all (an insert), else appended to one.
func (s *Schedule) store(ctx context.Context, second int64, ids []string) error {
	if s.slots == nil {
		s.slots = map[int64]int{}
	}
	n := max(s.Shards, 1)
	// Replicas start at different slots, so they seldom try the same one.
	start := int(fnv32(s.Holder) % uint32(n))
	for s.slots[second] < n {
		slot := (start + s.slots[second]) % n
		s.slots[second]++
		err := s.Buckets.Insert(ctx, s.key(second, slot), Bucket{IDs: ids}, nil)
		if !errors.Is(err, ErrExists) {
			return err
		}
	}
	// Spread the appends of several replicas.
	return s.append(ctx, second, int(s.shard.Add(1))%n, ids)
}

// fnv32 is v's FNV-1a hash: where a replica's slots start, and an Index
// shard.
func fnv32(v string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(v))
	return h.Sum32()
}

func (s *Schedule) append(ctx context.Context, second int64, shard int, ids []string) error {
	_, err := s.Buckets.Update(ctx, s.key(second, shard), func(b *Bucket, _ bool) (*Event, error) {
		b.IDs = append(b.IDs, ids...)
		return nil, nil
	})
	return err
}

// Sweep hands each id of the seconds that came due since the last sweep to
// fn, in order. An id whose fn fails is added again, retryAfter later, and
// the sweep goes on (the last error is returned); a bucket that cannot be
// read, or an id that cannot be added again, ends the sweep without moving
// the cursor past that second: the next sweep starts there again.
func (s *Schedule) Sweep(ctx context.Context, fn func(ctx context.Context, id string) error) (SweepSummary, error) {
	return s.SweepEach(ctx, func(ctx context.Context, ids []string) []error {
		out := make([]error, len(ids))
		for i, id := range ids {
			out[i] = fn(ctx, id)
		}
		return out
	})
}

// SweepEach is Sweep handing fn the ids of one second at a time (so that
// it can read what they name in bulk); fn returns one error (or nil) per id.
func (s *Schedule) SweepEach(ctx context.Context, fn func(ctx context.Context, ids []string) []error) (SweepSummary, error) {
	var sum SweepSummary
	start := time.Now()
	now := s.Now()
	from, err := s.claim(ctx, now)
	if errors.Is(err, errHeld) {
		sum.Held = true
		s.passed("held", 0)
		return sum, nil
	}
	if errors.Is(err, errUpToDate) {
		s.passed("idle", 0)
		return sum, nil
	}
	if err != nil {
		s.passed("failed", 0)
		return sum, err
	}
	// The seconds still taking adds are left for the next sweep (write
	// moves an add that comes that late to a later second).
	last := min(now.Unix()-sweepGrace, from+maxCatchUp)
	done := from
	var workErr error
	seen := map[string]bool{}
	keys := make([]string, max(s.Shards, 1))
sweep:
	for sec := from + 1; sec <= last; sec++ {
		for shard := range keys {
			keys[shard] = s.key(sec, shard)
		}
		buckets, err := s.Buckets.GetMany(ctx, keys)
		if err != nil {
			workErr = err
			break sweep
		}
		var ids []string
		for _, k := range keys {
			for _, id := range buckets[k].IDs {
				if !seen[id] {
					seen[id] = true // added twice: once is enough
					ids = append(ids, id)
				}
			}
		}
		var failures []error
		if len(ids) > 0 {
			failures = fn(ctx, ids)
		}
		for i, id := range ids {
			var err error
			if i < len(failures) {
				err = failures[i]
			}
			if err == nil {
				sum.IDs++
				continue
			}
			// One id that fails does not hold up the others: it is
			// looked at again later, and the sweep goes on. Only an id
			// that cannot be put back stops it, where it stands.
			sum.Failed++
			sum.Reasons = sum.Reasons.Add(err)
			workErr = err
			if s.Log != nil {
				s.Log.WarnContext(ctx, "scheduled work failed; looked at again later", "schedule", s.Name, "id", id,
					"reason", errs.Reason(err), "error", err, "retry_in", retryAfter.String())
			}
			if err := s.Add(ctx, id, retryAfter); err != nil {
				workErr = err
				break sweep
			}
		}
		done = sec
		sum.Seconds++
		// A sweep never outlives its lease: the next one goes on from here.
		if time.Since(start) > s.Lease/2 {
			break
		}
	}
	if s.Failures != nil && len(sum.Reasons) > 0 {
		s.Failures.Failed(s.Name, sum.Reasons)
	}
	s.passed("swept", sum.IDs+sum.Failed)
	// A cancelled sweep still gives the schedule back.
	relCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.release(relCtx, done); err != nil && workErr == nil {
		workErr = err
	}
	return sum, workErr
}

// claim takes the lease and returns the last second swept.
func (s *Schedule) claim(ctx context.Context, now time.Time) (int64, error) {
	var jumped int64
	c, err := s.Cursors.Update(ctx, s.cursorKey(), func(c *SweepCursor, exists bool) (*Event, error) {
		if c.Holder != "" && c.Holder != s.Holder && now.Before(c.Until) {
			return nil, errHeld
		}
		if exists && c.Second >= now.Unix()-sweepGrace {
			return nil, errUpToDate
		}
		if !exists {
			// A first sweep looks back as far as one sweep reaches.
			c.Second = now.Unix() - maxCatchUp
		}
		if oldest := now.Add(-BucketLife).Unix(); c.Second < oldest {
			if exists {
				jumped = oldest - c.Second
			}
			c.Second = oldest // those buckets have expired
		}
		c.Holder, c.Until = s.Holder, now.Add(s.Lease)
		return nil, nil
	})
	if err == nil && jumped > 0 && s.Log != nil {
		s.Log.ErrorContext(ctx, "schedule skipped seconds whose buckets have expired: their ids were never looked at",
			"schedule", s.Name, "seconds", jumped)
	}
	return c.Second, err
}

// release moves the cursor to done and gives the lease back.
func (s *Schedule) release(ctx context.Context, done int64) error {
	_, err := s.Cursors.Update(ctx, s.cursorKey(), func(c *SweepCursor, _ bool) (*Event, error) {
		if c.Holder == s.Holder {
			c.Holder, c.Until = "", time.Time{}
		}
		c.Second = max(c.Second, done)
		return nil, nil
	})
	return err
}
