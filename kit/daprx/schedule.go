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

// Schedule keeps ids in buckets by due second, because Dapr's state API
// cannot list keys portably. Buckets expire by TTL and are never deleted.
//
// Adds are group-committed into Shards slots per second. One key for all
// callers serialised them on its ETag: 503s from 500 purchases/s on.
//
// A sweep holds a lease and moves the cursor after the work, so a sweep
// that dies is repeated, never skipped.
type Schedule struct {
	Buckets Store[Bucket]
	Cursors Store[SweepCursor]
	Name    string
	Shards  int
	// Lease bounds a sweep's hold; a sweep that outlives it may run beside the next.
	Lease time.Duration
	// Holder names this replica in the lease.
	Holder string
	Now    func() time.Time
	// Log, if set, reports skipped seconds and failed ids.
	Log *slog.Logger
	// Failures, if set, counts failed ids by reason.
	Failures FailureCounter

	adds batcher[scheduled]
	once sync.Once
	// slots counts the slots tried per second. Only the batcher's goroutine uses it.
	slots map[int64]int
	shard atomic.Uint32
}

// ScheduleLease is short because a killed holder stalls the schedule that long.
// Killing one gateway and one voucher-int of two settled in 33-34 s with a
// 30 s lease, and in 17.5 s with a 6 s lease.
const ScheduleLease = 10 * time.Second

// NewSchedule keeps buckets for longest, the longest delay, plus BucketLife.
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

// FailureCounter counts a sweep's failures by reason.
type FailureCounter = persist.FailureCounter

// PassCounter counts passes by outcome ("swept", "held", "idle", "failed"),
// because a cron tick fires on every replica but one does the work.
type PassCounter interface {
	Passed(sweep, outcome string, items int)
}

func (s *Schedule) passed(outcome string, items int) {
	if c, ok := s.Failures.(PassCounter); ok {
		c.Passed(s.Name, outcome, items)
	}
}

// Bucket holds ids due in one shard of one second.
type Bucket struct {
	IDs []string `json:"ids"`
}

// SweepCursor is the last second fully swept, and the current lease.
type SweepCursor struct {
	Second int64     `json:"second"`
	Holder string    `json:"holder,omitempty"`
	Until  time.Time `json:"until,omitzero"`
}

// SweepSummary counts what one sweep did.
type SweepSummary = persist.SweepSummary

// BucketLife is how long a bucket outlives its second.
const BucketLife = time.Hour

// maxCatchUp bounds the seconds one sweep works through; the next goes on.
const maxCatchUp = 120

// sweepGrace keeps an add in flight from falling behind the cursor.
const sweepGrace = 1

const retryAfter = 5 * time.Second

var errHeld = errors.New("schedule held by another sweep")

// errUpToDate: another replica did this tick's work, so nothing is written.
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

// Add schedules id after the delay and returns once it is stored.
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

// write moves an add a sweep may be reading to a later second ("not before").
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

// Sweep hands fn each due id in order. A failed id is added again later.
// A sweep that cannot go on stops, and the next one starts there.
func (s *Schedule) Sweep(ctx context.Context, fn func(ctx context.Context, id string) error) (SweepSummary, error) {
	return s.SweepEach(ctx, func(ctx context.Context, ids []string) []error {
		out := make([]error, len(ids))
		for i, id := range ids {
			out[i] = fn(ctx, id)
		}
		return out
	})
}

// SweepEach hands fn one second's ids at once, so it can read in bulk.
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
		// Never outlive the lease: the next sweep goes on from here.
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
