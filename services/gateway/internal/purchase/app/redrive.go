package app

import (
	"context"
	"time"

	"github.com/bankabc/vouchers/kit/persist"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/tracing"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// Redrive re-sends request-code for requests still processing after a while,
// since a broker can lose a publish it acknowledged (the fault suite saw it).
// voucher-int is idempotent on requestId, so a re-send is harmless. It also
// starts deliveries lost in a crash.
type Redrive struct {
	Schedule persist.Schedule
	Requests persist.Store[domain.Request]
	Events   EventPublisher
	// After is how long a request may stay processing before a re-send.
	After time.Duration
	// Deliveries is nil for no delivery check.
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
	// Failed requests are logged and looked at again later.
	Failed int
	// Held means another replica was sweeping.
	Held bool
}

// Track schedules a look at the request After from now.
func (r Redrive) Track(ctx context.Context, requestID string) error {
	return r.Schedule.Add(ctx, requestID, r.After)
}

// Sweep re-sends request-code for each due request still processing.
func (r Redrive) Sweep(ctx context.Context) (RedriveSummary, error) {
	var sum RedriveSummary
	// One read per second's requests, one for their deliveries.
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
