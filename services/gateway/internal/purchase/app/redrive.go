package app

import (
	"context"
	"time"

	"github.com/bankabc/vouchers/kit/persist"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/tracing"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// Redrive sends request-code again for a request still processing a while
// after it was accepted. A broker can lose a publish it acknowledged (the
// fault suite saw it: docs/deploy.md), which would leave the request
// processing for ever. voucher-int is idempotent on requestId, so a
// re-send repairs a lost request-code or receive-code, and costs nothing
// when the first was only slow.
//
// A finished request without a delivery gets one: a crash between storing
// the outcome and starting the delivery would leave it undelivered.
//
// Requests are tracked on a daprx.Schedule, so a sweep reads only the time
// buckets that came due, however many requests are open.
type Redrive struct {
	Schedule persist.Schedule
	Requests Store[domain.Request]
	Events   EventPublisher
	// After: a request still processing this long after it was tracked is
	// sent again, and tracked again.
	After time.Duration
	// Deliveries makes sure a finished request's delivery exists (nil: no
	// such check).
	Deliveries interface {
		OfMany(ctx context.Context, requestIDs []string) (map[string]domain.Delivery, error)
		ensureWith(ctx context.Context, req domain.Request, existing *domain.Delivery) error
	}
}

// EventPublisher publishes an event outside the outbox.
type EventPublisher interface {
	Publish(ctx context.Context, topic, ceType string, data any) error
}

// RedriveSummary counts what one sweep did.
type RedriveSummary struct {
	Seconds, Checked, Resent int
	// Failed: requests whose look failed (each logged and counted by the
	// schedule), looked at again later.
	Failed int
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
	// The requests of one second, and the deliveries of those finished,
	// are read in one call each.
	s, err := r.Schedule.SweepEach(ctx, func(ctx context.Context, ids []string) []error {
		out := make([]error, len(ids))
		keys := persist.Keys(ids, requestKey)
		reqs, err := r.Requests.GetMany(ctx, keys)
		var finished []string
		for i := range ids {
			if req, ok := reqs[keys[i]]; ok && req.State != domain.StateProcessing {
				finished = append(finished, req.RequestID)
			}
		}
		var dels map[string]domain.Delivery
		if err == nil && r.Deliveries != nil && len(finished) > 0 {
			dels, err = r.Deliveries.OfMany(ctx, finished)
		}
		for i, id := range ids {
			if err != nil {
				out[i] = err
				continue
			}
			sum.Checked++
			req, found := reqs[keys[i]]
			if !found {
				continue // gone (the insert failed): nothing to do
			}
			var del *domain.Delivery
			if d, ok := dels[id]; ok {
				del = &d
			}
			resent, err := r.resend(ctx, req, del)
			if resent {
				sum.Resent++
			}
			out[i] = err
		}
		return out
	})
	sum.Seconds, sum.Held, sum.Failed = s.Seconds, s.Held, s.Failed
	return sum, err
}

// resend sends request-code again for a request still processing, and
// makes sure a finished one has its delivery (del, if it has one).
func (r Redrive) resend(ctx context.Context, req domain.Request, del *domain.Delivery) (bool, error) {
	id := req.RequestID
	if req.State != domain.StateProcessing {
		if r.Deliveries == nil {
			return false, nil
		}
		return false, r.Deliveries.ensureWith(ctx, req, del)
	}
	ev := events.RequestCode{RequestID: req.RequestID, UserID: req.UserID, PhoneNumber: req.PhoneNumber, RequestedAt: req.CreatedAt}
	pubCtx := ctx // in the purchase's trace, not the sweep's
	if sc, ok := tracing.Parse(req.TraceParent); ok {
		pubCtx = tracing.With(ctx, sc)
	}
	if err := r.Events.Publish(pubCtx, events.TopicRequestCode, events.TypeRequestCode, ev); err != nil {
		return false, err
	}
	return true, r.Track(ctx, id)
}
