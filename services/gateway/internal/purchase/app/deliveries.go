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

// Deliveries delivers codes: a signed webhook for a SUCCESS with a
// callbackUrl, an SMS otherwise (LATE_SUCCESS, no callbackUrl), and an SMS
// after the webhook's retries run out. The SMS is published to send-sms in
// the same state transaction that records it (the store's outbox).
type Deliveries struct {
	Store    Store[domain.Delivery]
	Pending  Set
	Secrets  WebhookSecrets
	Webhooks Webhooks
	// Codec writes webhook bodies and reads them back (adapters.WebhookJSON).
	Codec domain.WebhookCodec
	Now   func() time.Time
	// Schedule is the wait before each retry; when it runs out, SMS.
	Schedule []time.Duration
	// MaxRetryAfter caps how long a receiver's Retry-After may hold us.
	MaxRetryAfter time.Duration
	// Metrics counts webhook attempts (nil: none).
	Metrics WebhookMetrics
	// Failures counts what each sweep could not do, by reason (nil: none),
	// and Log notes each (nil: none).
	Failures persist.FailureCounter
	Log      *slog.Logger
	// FirstAttemptLease, when set, makes the first webhook attempt as soon
	// as the delivery is stored, claimed this long, instead of at the next
	// sweep.
	FirstAttemptLease time.Duration
	// Lanes, when set, runs the attempts in the background, so many at
	// once and a few of one customer's at most; an attempt that finds no
	// place waits for a later sweep. Without it, a sweep makes its
	// attempts one after another.
	Lanes *work.Lanes
	// OverdueAfter: a webhook whose attempt is this late goes by SMS
	// (domain.WebhookRules.OverdueAfter; 0: never).
	OverdueAfter time.Duration
	// Counts keeps what the last sweep saw pending, by customer, and
	// MaxPendingPerCustomer caps it (Crowded; 0: no cap).
	Counts                *PendingCounts
	MaxPendingPerCustomer int
	// Texts counts the codes that go by SMS without having been counted
	// when their purchase was accepted (a webhook that fell back, a late
	// code of a purchase with a callbackUrl): every text spends the
	// number's daily budget (nil: none counted).
	Texts *VoucherTexts
}

// textSpent counts a code texted to phone for request id against the
// number's daily budget, after its send-sms was stored. A count that
// fails or goes over is logged: the text is the code of a voucher already
// bought, and goes all the same.
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

// WebhookMetrics counts webhook attempts by outcome: delivered, retry
// (another attempt is scheduled), fell_back (the code goes by SMS)
// (kit/metrics.Webhooks).
type WebhookMetrics interface {
	Attempt(outcome string)
}

func deliveryKey(requestID string) string { return "delivery|" + requestID }

// Ensure makes sure a succeeded request has its delivery: it creates one,
// or re-indexes a pending webhook that exists already. Create skips the
// read, for a request whose end was just recorded.
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

// ensureWith is Ensure once the request's delivery, if any, was read.
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
			// A late code of a purchase with a callbackUrl: its text was
			// not counted when the purchase was accepted.
			d.textSpent(ctx, req.RequestID, req.PhoneNumber)
		}
		return err
	}
	if d.FirstAttemptLease <= 0 {
		return d.insertPending(ctx, req.RequestID, del)
	}
	// The first attempt right away, claimed by the insert itself; the
	// sweep's index only learns of a webhook that needs another. A crash
	// before that leaves it pending and claimed for a while: the redrive
	// finds it and indexes it (Redrive.resend).
	var place *work.Place
	if d.Lanes != nil {
		var free bool
		if place, free = d.Lanes.Take(req.Username); !free {
			// No place for this customer now: the sweep makes the first
			// attempt when its turn comes.
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

// insertPending stores a webhook whose first attempt the sweep makes.
func (d Deliveries) insertPending(ctx context.Context, id string, del domain.Delivery) error {
	if err := d.Store.Insert(ctx, deliveryKey(id), del, nil); errors.Is(err, persist.ErrExists) {
		return d.reindexStored(ctx, id)
	} else if err != nil {
		return err
	}
	return d.Pending.Add(ctx, id)
}

// reindexIfPending puts a pending webhook in the sweep's index again
// (adding twice is harmless). A gateway killed between the insert and the
// index left it out, and the sweep reads only the index (seen in the
// fault suite).
func (d Deliveries) reindexIfPending(ctx context.Context, requestID string, existing *domain.Delivery) error {
	if existing.Channel == domain.ChannelWebhook && existing.Status == domain.DeliveryPending {
		return d.Pending.Add(ctx, requestID)
	}
	return nil
}

// reindexStored is reindexIfPending for a delivery a failed insert found.
func (d Deliveries) reindexStored(ctx context.Context, requestID string) error {
	existing, err := d.Of(ctx, requestID)
	if err != nil || existing == nil {
		return err
	}
	return d.reindexIfPending(ctx, requestID, existing)
}

// smsEvent is the send-sms that carries sms to phone.
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

// OfMany returns the deliveries of several requests in one read, by
// request id; a request with none is absent.
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
	// Attempted counts the attempts made in the sweep (no Lanes), Started
	// those started in the background (Lanes), and Deferred the due ones
	// left for a later sweep because every place was taken, or their
	// customer's.
	Attempted, Started, Deferred int
	Delivered, FellBack          int
	// Overdue counts webhooks whose code went by SMS because their attempt
	// could not be made in time (counted in FellBack too).
	Overdue int
	// Errors counts, by reason, the deliveries this sweep could not attempt
	// or record (each logged): the next sweep tries them again.
	Errors errs.Reasons
}

// Sweep makes the due webhook attempts. Overdue ones go by SMS at once.
// Customers take turns (domain.TakeTurns), so one customer's many cannot
// delay another's one. With Lanes, attempts run in the background and a
// sweep never waits for a receiver. Each delivery is claimed with its ETag
// first, so no attempt is sent twice.
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

// notAttempted logs a delivery left for the next sweep, and counts it
// when counted is set (an attempt in the background counts its own).
func (d Deliveries) notAttempted(ctx context.Context, id string, counted errs.Reasons, err error) {
	if d.Failures != nil && len(counted) > 0 {
		d.Failures.Failed("webhook-sweep", counted)
	}
	if d.Log != nil {
		d.Log.WarnContext(ctx, "webhook delivery not attempted or not recorded in this sweep; tried again later",
			"purchase_id", id, "reason", errs.Reason(err), "error", err)
	}
}

// pending reads every indexed webhook and returns the due ones. It drops
// from the index what is no longer pending, sends the overdue ones by SMS,
// and notes how many each customer has pending (Crowded).
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

// giveUp sends an overdue webhook's code by SMS, in the transaction that
// records it, and takes it out of the index.
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

// attempt makes id's due attempt, if it is due and this pass claims it:
// AttemptNone when there was nothing to attempt (delivered already, not
// due, or held by another pass).
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

// PendingCounts is how many webhooks each customer had pending at the last
// sweep here (every replica sweeps every second, so it is about a second
// old): the cap on one customer's pending webhooks reads it.
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

// Crowded refuses a purchase with a callbackUrl while its customer has
// MaxPendingPerCustomer webhooks or more still pending: a receiver that
// never answers must not pile up work for every sweep.
func (d Deliveries) Crowded(username string) error {
	if d.MaxPendingPerCustomer <= 0 {
		return nil
	}
	if n := d.Counts.of(username); n >= d.MaxPendingPerCustomer {
		return errs.Later(time.Minute, "%d webhooks to your callbackUrl are still waiting to be delivered: make sure your receiver answers, or buy without a callbackUrl (the code then comes by SMS)", n)
	}
	return nil
}

// send makes one claimed attempt at del's webhook and records its outcome:
// delivered, retry (the next attempt scheduled) or fell back (the schedule
// ran out: the code goes by SMS). A failed attempt is logged with the
// receiver's answer.
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
			// The schedule ran out: the code goes by SMS, in the same
			// transaction that records the fallback.
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
