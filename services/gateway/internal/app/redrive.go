package app

import (
	"context"
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
// A request found finished has its delivery started, if it has none: the
// receive-code handler starts it in the background once the outcome is
// stored, and a crash in between would leave it undelivered.
//
// Requests are tracked on a kit/daprx.Schedule (time buckets, group-committed
// adds, one sweeper at a time): a sweep reads only the buckets that came due
// since the last one, whatever the number of open requests.
type Redrive struct {
	Schedule *daprx.Schedule
	Requests Store[Request]
	Events   EventPublisher
	// After: a request still processing this long after it was tracked is
	// sent again, and tracked again.
	After time.Duration
	// Deliveries makes sure a finished request's delivery exists (nil: no
	// such check).
	Deliveries interface {
		Start(ctx context.Context, req Request) error
	}
}

// EventPublisher publishes an event outside the outbox.
type EventPublisher interface {
	Publish(ctx context.Context, topic, ceType string, data any) error
}

// RedriveSummary counts what one sweep did.
type RedriveSummary struct {
	Seconds, Checked, Resent int
	// Held: another replica was sweeping.
	Held bool
}

// Track schedules a look at the request After from now, and returns once
// that is stored.
func (r Redrive) Track(ctx context.Context, requestID string) error {
	return r.Schedule.Add(ctx, requestID, r.After)
}

// Sweep sends request-code again for each request that came due and is
// still processing, and tracks it again. A sweep that dies is repeated
// rather than skipped; a repeat only re-sends, which is harmless.
func (r Redrive) Sweep(ctx context.Context) (RedriveSummary, error) {
	var sum RedriveSummary
	s, err := r.Schedule.Sweep(ctx, func(ctx context.Context, id string) error {
		sum.Checked++
		resent, err := r.resend(ctx, id)
		if resent {
			sum.Resent++
		}
		return err
	})
	sum.Seconds, sum.Held = s.Seconds, s.Held
	return sum, err
}

// resend sends request-code again for a request still processing.
func (r Redrive) resend(ctx context.Context, id string) (bool, error) {
	req, _, found, err := r.Requests.Get(ctx, requestKey(id))
	if err != nil || !found {
		return false, err // gone (the insert failed): nothing to do
	}
	if req.State != StateProcessing {
		if r.Deliveries == nil {
			return false, nil
		}
		return false, r.Deliveries.Start(ctx, req) // a no-op when it exists
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
