package app

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/tracing"
)

// Redrive sends request-code again for a request still processing a while
// after it was accepted. The outbox hands each event to the broker once;
// a broker that loses a publish it had acknowledged would leave the
// request processing for ever (the fault suite caught one of our profiles'
// pub/sub components doing so across a broker outage: docs/deploy.md). voucher-int is idempotent on requestId, asks the provider again
// about an order with no answer, and answers a finished one with its outcome
// again, so a re-send repairs a lost request-code and a lost receive-code
// alike, and costs nothing when the first was only slow.
//
// Requests are tracked in buckets by the second they come due (key
// redrive|<unix second>|<shard>): a sweep reads only the buckets that came
// due since the last one, whatever the number of open requests, and nothing
// is removed when a request completes (buckets expire with the store's TTL).
type Redrive struct {
	Buckets  Store[RedriveBucket]
	Cursor   Store[RedriveCursor]
	Requests Store[Request]
	Events   EventPublisher
	// After: a request still processing this long after it was tracked is
	// sent again, and tracked again.
	After  time.Duration
	Shards int
	Now    func() time.Time
}

// EventPublisher publishes an event outside the outbox.
type EventPublisher interface {
	Publish(ctx context.Context, topic, ceType string, data any) error
}

// RedriveBucket holds the requests due in one second (one shard of it).
type RedriveBucket struct {
	IDs []string `json:"ids"`
}

// RedriveCursor is the last second every bucket of which was swept.
type RedriveCursor struct {
	Second int64 `json:"second"`
}

// RedriveSummary counts what one sweep did.
type RedriveSummary struct {
	Seconds, Checked, Resent int
}

// RedriveBucketLife is how long a bucket outlives the second it came due
// (the Buckets store's TTL is After plus this): a sweep that was away
// longer finds nothing older, and starts there.
const RedriveBucketLife = time.Hour

const (
	redriveCursorKey = "redrive-cursor"
	// maxRedriveCatchUp bounds the seconds one sweep works through after
	// gateway was away; the next sweep goes on.
	maxRedriveCatchUp = 120
)

func redriveKey(second int64, shard int) string { return fmt.Sprintf("redrive|%d|%d", second, shard) }

// Track schedules a look at the request After from now: its id is
// appended to the bucket of the second it comes due.
func (r Redrive) Track(ctx context.Context, requestID string) error {
	return r.trackAll(ctx, []string{requestID}, 0)
}

func (r Redrive) trackAll(ctx context.Context, ids []string, shard int) error {
	key := redriveKey(r.Now().Add(r.After).Unix(), shard%r.Shards)
	_, err := r.Buckets.Update(ctx, key, func(b *RedriveBucket, _ bool) (*daprx.Event, error) {
		b.IDs = append(b.IDs, ids...)
		return nil, nil
	})
	return err
}

// BatchedRedrive groups Track calls (a group commit): while one bucket
// write is on its way, the requests that arrive wait together for the next
// one, and each caller returns only once its id is stored. Without it every
// accepted purchase wrote the same few bucket keys, and under load the
// ETag conflicts on them took the state store down (measured: 503s from
// 500 purchases/s on).
type BatchedRedrive struct {
	Redrive
	mu       sync.Mutex
	pending  []pendingTrack
	flushing bool
	shard    atomic.Uint32
}

type pendingTrack struct {
	id   string
	done chan error
}

// Track waits until the request's id is stored in a bucket.
func (b *BatchedRedrive) Track(ctx context.Context, requestID string) error {
	done := make(chan error, 1)
	b.mu.Lock()
	b.pending = append(b.pending, pendingTrack{id: requestID, done: done})
	if !b.flushing {
		b.flushing = true
		go b.flush()
	}
	b.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush writes what is pending, one bucket write per round, until nothing
// is left.
func (b *BatchedRedrive) flush() {
	for {
		b.mu.Lock()
		batch := b.pending
		b.pending = nil
		if len(batch) == 0 {
			b.flushing = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		ids := make([]string, len(batch))
		for i, p := range batch {
			ids[i] = p.id
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// Shards spread the writes of several gateway replicas.
		err := b.trackAll(ctx, ids, int(b.shard.Add(1)))
		cancel()
		for _, p := range batch {
			p.done <- err
		}
	}
}

// Sweep works through the seconds that came due since the last sweep: each
// request of their buckets still processing is sent again and tracked
// again. The cursor moves after the work, so a crash repeats a second
// rather than skipping it (a repeat only re-sends, which is harmless); two
// replicas sweeping at once may both re-send, never skip.
func (r Redrive) Sweep(ctx context.Context) (RedriveSummary, error) {
	var sum RedriveSummary
	now := r.Now().Unix()
	cur, _, found, err := r.Cursor.Get(ctx, redriveCursorKey)
	if err != nil {
		return sum, err
	}
	if !found {
		// Nothing tracked before now is due yet: Track schedules After ahead.
		cur.Second = now - 1
	}
	if oldest := now - int64((r.After+RedriveBucketLife)/time.Second); cur.Second < oldest {
		cur.Second = oldest // those buckets have expired
	}
	last := min(now, cur.Second+maxRedriveCatchUp)
	for sec := cur.Second + 1; sec <= last; sec++ {
		for shard := range r.Shards {
			b, _, found, err := r.Buckets.Get(ctx, redriveKey(sec, shard))
			if err != nil {
				return sum, err
			}
			if !found {
				continue
			}
			for _, id := range b.IDs {
				sum.Checked++
				resent, err := r.resend(ctx, id)
				if err != nil {
					return sum, err
				}
				if resent {
					sum.Resent++
				}
			}
		}
		sum.Seconds++
	}
	_, err = r.Cursor.Update(ctx, redriveCursorKey, func(c *RedriveCursor, _ bool) (*daprx.Event, error) {
		if c.Second >= last {
			return nil, daprx.ErrNoChange
		}
		c.Second = last
		return nil, nil
	})
	return sum, err
}

// resend sends request-code again for a request still processing.
func (r Redrive) resend(ctx context.Context, id string) (bool, error) {
	req, _, found, err := r.Requests.Get(ctx, requestKey(id))
	if err != nil || !found || req.State != StateProcessing {
		return false, err // gone (the insert failed) or finished: nothing to do
	}
	ev := events.RequestCode{RequestID: req.RequestID, UserID: req.UserID, PhoneNumber: req.PhoneNumber, RequestedAt: req.CreatedAt}
	pubCtx := ctx // in the purchase's trace, not the sweep's
	if tc, ok := tracing.Parse(req.TraceParent); ok {
		pubCtx = tracing.With(ctx, tc)
	}
	if err := r.Events.Publish(pubCtx, events.TopicRequestCode, events.TypeRequestCode, ev); err != nil {
		return false, err
	}
	return true, r.Track(ctx, id)
}
