package app

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/kit/tracing"
	"github.com/bankabc/vouchers/kit/work"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// Webhooks sends one signed webhook attempt.
type Webhooks interface {
	Send(ctx context.Context, url, webhookID, secret string, body []byte) domain.WebhookResult
}

// Set is a set of ids (daprx.Index satisfies it).
type Set interface {
	Add(ctx context.Context, id string) error
	Remove(ctx context.Context, id string) error
	All(ctx context.Context) ([]string, error)
}

// Deliveries sends codes by signed webhook or by SMS. Each SMS event is
// stored in the transaction that records it, through the store's outbox.
type Deliveries struct {
	Store    persist.Store[domain.Delivery]
	Pending  Set
	Secrets  WebhookSecrets
	Webhooks Webhooks
	// Codec writes webhook bodies and reads them back.
	Codec domain.WebhookCodec
	Now   func() time.Time
	// Schedule holds the retry waits. After the last, the code goes by SMS.
	Schedule []time.Duration
	// MaxRetryAfter caps how long a receiver's Retry-After may hold us.
	MaxRetryAfter time.Duration
	// Metrics may be nil.
	Metrics WebhookMetrics
	// Failures and Log may be nil.
	Failures persist.FailureCounter
	Log      *slog.Logger
	// FirstAttemptLease, if set, makes the first attempt without a sweep.
	FirstAttemptLease time.Duration
	// Lanes, if set, runs attempts in the background, a few per customer.
	Lanes *work.Lanes
	// OverdueAfter sends a late webhook's code by SMS instead. 0 is never.
	OverdueAfter time.Duration
	// Counts and MaxPendingPerCustomer feed Crowded. 0 is no cap.
	Counts                *PendingCounts
	MaxPendingPerCustomer int
	// Texts charges late and fallen-back codes to the number's daily budget.
	Texts *VoucherTexts
}

// textSpent only logs going over the budget: the voucher is already bought.
func (d Deliveries) textSpent(ctx context.Context, id, phone string) {
	over, err := d.Texts.Spent(ctx, phone)
	if d.Log == nil {
		return
	}
	switch {
	case err != nil:
		d.Log.WarnContext(ctx, "voucher text not counted against its number's budget", "purchase_id", id, "error", err)
	case over:
		d.Log.WarnContext(ctx, "voucher text over its number's daily budget, sent: the voucher is bought", "purchase_id", id)
	}
}

// WebhookMetrics counts webhook attempts by outcome.
type WebhookMetrics interface {
	Attempt(outcome string)
}

func deliveryKey(requestID string) string { return "delivery|" + requestID }

// Ensure gives a succeeded request its delivery, or re-indexes a pending one.
func (d Deliveries) Ensure(ctx context.Context, req domain.Request) error {
	if req.State != domain.StateSuccess {
		return nil
	}
	existing, err := d.Of(ctx, req.RequestID)
	if err != nil {
		return err
	}
	return d.ensureWith(ctx, req, existing)
}

func (d Deliveries) ensureWith(ctx context.Context, req domain.Request, existing *domain.Delivery) error {
	if existing != nil {
		return d.reindexIfPending(ctx, req.RequestID, existing)
	}
	return d.Create(ctx, req)
}

// Create inserts the delivery of a request that just succeeded. One that
// exists already (a redelivered event, a redrive) is only re-indexed.
func (d Deliveries) Create(ctx context.Context, req domain.Request) error {
	del, sms, ok, err := domain.BeginDelivery(req, d.Now(), d.Codec)
	if !ok || err != nil {
		return err // a failed request has nothing to deliver; its status says why
	}
	if sms != nil {
		err := d.Store.Insert(ctx, deliveryKey(req.RequestID), del, smsEvent(req.RequestID, req.PhoneNumber, *sms))
		if errors.Is(err, persist.ErrExists) {
			return nil
		}
		if err == nil && req.CallbackURL != "" {
			// A late code: its text was not counted at purchase time.
			d.textSpent(ctx, req.RequestID, req.PhoneNumber)
		}
		return err
	}
	if d.FirstAttemptLease <= 0 {
		return d.insertPending(ctx, req.RequestID, del)
	}
	// The insert claims the first attempt. If we crash before recording it,
	// the redrive indexes the webhook for the sweep.
	var place *work.Place
	if d.Lanes != nil {
		var free bool
		if place, free = d.Lanes.Take(req.Username); !free {
			// No place for this customer now, so the sweep makes it.
			return d.insertPending(ctx, req.RequestID, del)
		}
	}
	del.ClaimedUntil = del.CreatedAt.Add(d.FirstAttemptLease)
	if err := d.Store.Insert(ctx, deliveryKey(req.RequestID), del, nil); err != nil {
		if place != nil {
			place.Release()
		}
		if errors.Is(err, persist.ErrExists) {
			return d.reindexStored(ctx, req.RequestID)
		}
		return err
	}
	first := func(ctx context.Context) error {
		outcome, err := d.send(ctx, req.RequestID, del)
		if err == nil && outcome == domain.AttemptRetry {
			err = d.Pending.Add(ctx, req.RequestID)
		}
		return err
	}
	if place == nil {
		return first(ctx)
	}
	place.Go(ctx, func(ctx context.Context) {
		if err := first(ctx); err != nil && d.Log != nil {
			d.Log.WarnContext(ctx, "first webhook attempt not recorded; the redrive indexes it for the sweep",
				"purchase_id", req.RequestID, "reason", errs.Reason(err), "error", err)
		}
	})
	return nil
}

func (d Deliveries) insertPending(ctx context.Context, id string, del domain.Delivery) error {
	if err := d.Store.Insert(ctx, deliveryKey(id), del, nil); errors.Is(err, persist.ErrExists) {
		return d.reindexStored(ctx, id)
	} else if err != nil {
		return err
	}
	return d.Pending.Add(ctx, id)
}

// A gateway killed between the insert and the index left the webhook out,
// and the sweep reads only the index. The fault suite saw it.
func (d Deliveries) reindexIfPending(ctx context.Context, requestID string, existing *domain.Delivery) error {
	if existing.Channel == domain.ChannelWebhook && existing.Status == domain.DeliveryPending {
		return d.Pending.Add(ctx, requestID)
	}
	return nil
}

func (d Deliveries) reindexStored(ctx context.Context, requestID string) error {
	existing, err := d.Of(ctx, requestID)
	if err != nil || existing == nil {
		return err
	}
	return d.reindexIfPending(ctx, requestID, existing)
}

func smsEvent(requestID, phone string, sms domain.CodeSMS) *persist.Event {
	return &persist.Event{Topic: events.TopicSendSMS, Type: events.TypeSendSMS, Data: events.SendSMS{
		MessageID: "voucher-" + requestID, PhoneNumber: phone, Text: sms.Text()}}
}

// Of returns the delivery of a request, nil if it has none yet.
func (d Deliveries) Of(ctx context.Context, requestID string) (*domain.Delivery, error) {
	del, found, err := d.Store.Get(ctx, deliveryKey(requestID))
	if err != nil || !found {
		return nil, err
	}
	return &del, nil
}

// OfMany reads the deliveries of several requests at once, by request id.
func (d Deliveries) OfMany(ctx context.Context, requestIDs []string) (map[string]domain.Delivery, error) {
	keys := persist.Keys(requestIDs, deliveryKey)
	got, err := d.Store.GetMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]domain.Delivery, len(got))
	for i, id := range requestIDs {
		if del, ok := got[keys[i]]; ok {
			out[id] = del
		}
	}
	return out, nil
}

// SweepSummary counts what one sweep did.
type SweepSummary struct {
	// Deferred counts due attempts that found no free place.
	Attempted, Started, Deferred int
	Delivered, FellBack          int
	// Overdue webhooks are counted in FellBack too.
	Overdue int
	// Errors are logged, and the next sweep tries them again.
	Errors errs.Reasons
}

// Sweep makes the due webhook attempts. Customers take turns, so one
// customer's many cannot delay another's one. Each delivery is claimed with
// its ETag first, so no attempt is sent twice.
func (d Deliveries) Sweep(ctx context.Context, lease time.Duration) (SweepSummary, error) {
	var s SweepSummary
	due, err := d.pending(ctx, &s)
	if err != nil {
		// Counted here and logged by the caller, with its reason.
		if d.Failures != nil {
			d.Failures.Failed("webhook-sweep", errs.Reasons{}.Add(err))
		}
		return s, err
	}
	for _, del := range domain.TakeTurns(due) {
		id := del.RequestID
		if d.Lanes != nil {
			started := d.Lanes.TryGo(ctx, del.Username, func(ctx context.Context) {
				if _, err := d.attempt(ctx, id, lease); err != nil {
					d.notAttempted(ctx, id, errs.Reasons{}.Add(err), err)
				}
			})
			if started {
				s.Started++
			} else {
				s.Deferred++
			}
			continue
		}
		outcome, err := d.attempt(ctx, id, lease)
		if err != nil {
			s.Errors = s.Errors.Add(err)
			d.notAttempted(ctx, id, nil, err)
			continue
		}
		s.tally(outcome)
	}
	if d.Failures != nil && len(s.Errors) > 0 {
		d.Failures.Failed("webhook-sweep", s.Errors)
	}
	return s, nil
}

func (s *SweepSummary) tally(outcome domain.Attempt) {
	switch outcome {
	case domain.AttemptDelivered:
		s.Attempted++
		s.Delivered++
	case domain.AttemptFellBack:
		s.Attempted++
		s.FellBack++
	case domain.AttemptRetry:
		s.Attempted++
	case domain.AttemptNone:
	}
}

// notAttempted counts only when asked: a background attempt counts its own.
func (d Deliveries) notAttempted(ctx context.Context, id string, counted errs.Reasons, err error) {
	if d.Failures != nil && len(counted) > 0 {
		d.Failures.Failed("webhook-sweep", counted)
	}
	if d.Log != nil {
		d.Log.WarnContext(ctx, "webhook delivery not attempted or not recorded in this sweep; tried again later",
			"purchase_id", id, "reason", errs.Reason(err), "error", err)
	}
}

// pending also prunes the index and sends overdue webhooks by SMS.
func (d Deliveries) pending(ctx context.Context, s *SweepSummary) ([]domain.Delivery, error) {
	ids, err := d.Pending.All(ctx)
	if err != nil {
		return nil, err
	}
	got, err := d.OfMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	now := d.Now()
	rules := d.rules()
	perCustomer := map[string]int{}
	var due []domain.Delivery
	for _, id := range ids {
		del, ok := got[id]
		switch {
		case !ok || del.Status != domain.DeliveryPending:
			if err := d.Pending.Remove(ctx, id); err != nil {
				s.Errors = s.Errors.Add(err)
			}
		case rules.Overdue(del, now):
			if err := d.giveUp(ctx, id); err != nil {
				s.Errors = s.Errors.Add(err)
				d.notAttempted(ctx, id, nil, err)
				continue
			}
			s.Overdue++
			s.FellBack++
		default:
			perCustomer[del.Username]++
			if del.Due(now) {
				due = append(due, del)
			}
		}
	}
	d.Counts.set(perCustomer)
	return due, nil
}

func (d Deliveries) rules() domain.WebhookRules {
	return domain.WebhookRules{Schedule: d.Schedule, MaxRetryAfter: d.MaxRetryAfter, OverdueAfter: d.OverdueAfter,
		Codec: d.Codec}
}

func (d Deliveries) giveUp(ctx context.Context, id string) error {
	rules := d.rules()
	fellBack, phone := false, ""
	_, err := d.Store.Update(ctx, deliveryKey(id), func(cur *domain.Delivery, exists bool) (*persist.Event, error) {
		fellBack = false
		if !exists {
			return nil, persist.ErrNoChange
		}
		next, attempt, sms, err := rules.GiveUp(*cur, d.Now())
		if err != nil || attempt == domain.AttemptNone {
			return nil, cmp.Or(err, persist.ErrNoChange)
		}
		*cur, fellBack, phone = next, true, next.PhoneNumber
		return smsEvent(id, cur.PhoneNumber, *sms), nil
	})
	if err != nil {
		return err
	}
	if fellBack {
		d.textSpent(ctx, id, phone)
		if d.Metrics != nil {
			d.Metrics.Attempt(domain.AttemptFellBack.String())
		}
		if d.Log != nil {
			d.Log.WarnContext(ctx, "webhook not attempted in time: the code goes by SMS", "purchase_id", id)
		}
	}
	return d.Pending.Remove(ctx, id)
}

// attempt returns AttemptNone when nothing is due or another pass holds it.
func (d Deliveries) attempt(ctx context.Context, id string, lease time.Duration) (domain.Attempt, error) {
	now := d.Now()
	claimed := false
	del, err := d.Store.Update(ctx, deliveryKey(id), func(cur *domain.Delivery, exists bool) (*persist.Event, error) {
		next, ok := cur.Claim(now, lease)
		if claimed = exists && ok; !claimed {
			return nil, persist.ErrNoChange
		}
		*cur = next
		return nil, nil
	})
	if err != nil {
		return domain.AttemptNone, err
	}
	if del.RequestID == "" || del.Status != domain.DeliveryPending {
		return domain.AttemptNone, d.Pending.Remove(ctx, id)
	}
	if !claimed {
		return domain.AttemptNone, nil
	}
	outcome, err := d.send(ctx, id, del)
	if err != nil || outcome == domain.AttemptRetry {
		return outcome, err
	}
	return outcome, d.Pending.Remove(ctx, id)
}

// PendingCounts lags up to a second, since every replica sweeps each second.
type PendingCounts struct {
	mu sync.Mutex
	by map[string]int
}

func (c *PendingCounts) set(by map[string]int) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.by = by
	c.mu.Unlock()
}

func (c *PendingCounts) of(username string) int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.by[username]
}

// Crowded refuses a webhook purchase while its customer has too many
// pending. A receiver that never answers must not pile up sweep work.
func (d Deliveries) Crowded(username string) error {
	if d.MaxPendingPerCustomer <= 0 {
		return nil
	}
	if n := d.Counts.of(username); n >= d.MaxPendingPerCustomer {
		return errs.Later(time.Minute, "%d webhooks to your callbackUrl are still waiting to be delivered: make sure your receiver answers, or buy without a callbackUrl (the code then comes by SMS)", n)
	}
	return nil
}

func (d Deliveries) send(ctx context.Context, id string, del domain.Delivery) (domain.Attempt, error) {
	secret, found, err := d.Secrets.WebhookSecret(ctx, del.Username)
	if err != nil {
		return domain.AttemptNone, err
	}
	res := domain.WebhookResult{Err: "account not found"}
	if found {
		sendCtx, span := tracing.StartClient(ctx, "deliver webhook")
		res = d.Webhooks.Send(sendCtx, del.CallbackURL, del.WebhookID, secret, del.Body)
		var failed error
		if !res.Delivered {
			failed = errors.New(res.Err)
		}
		tracing.End(span, failed)
	}
	outcome := domain.AttemptRetry
	rules := d.rules()
	_, err = d.Store.Update(ctx, deliveryKey(id), func(cur *domain.Delivery, exists bool) (*persist.Event, error) {
		outcome = domain.AttemptRetry // a retried update starts over
		if !exists {
			return nil, persist.ErrNoChange
		}
		next, attempt, fallback, err := rules.Record(*cur, res, d.Now(), rand.Int64N)
		if err != nil {
			return nil, err
		}
		if attempt == domain.AttemptNone {
			return nil, persist.ErrNoChange
		}
		*cur, outcome = next, attempt
		if fallback != nil {
			return smsEvent(id, cur.PhoneNumber, *fallback), nil
		}
		return nil, nil
	})
	if err != nil {
		return domain.AttemptNone, err
	}
	if outcome == domain.AttemptFellBack {
		d.textSpent(ctx, id, del.PhoneNumber)
	}
	if d.Metrics != nil {
		d.Metrics.Attempt(outcome.String())
	}
	if !res.Delivered && d.Log != nil {
		d.Log.WarnContext(ctx, "webhook attempt failed", "purchase_id", id,
			"outcome", outcome.String(), "reason", res.Err)
	}
	return outcome, nil
}
