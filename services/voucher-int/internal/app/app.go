// Package app turns request-code events into provider orders and their
// outcomes into receive-code events.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/api/vpsapi"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/kit/tracing"
	"github.com/bankabc/vouchers/kit/work"
	"github.com/bankabc/vouchers/services/voucher-int/internal/domain"
)

// Orders is the order store. Update publishes its event in the write's
// transaction, so an outcome is never stored unpublished.
type Orders interface {
	Insert(ctx context.Context, key string, o domain.Order, ev *persist.Event) error
	Get(ctx context.Context, key string) (domain.Order, bool, error)
	GetMany(ctx context.Context, keys []string) (map[string]domain.Order, error)
	Update(ctx context.Context, key string, fn func(*domain.Order, bool) (*persist.Event, error)) (domain.Order, error)
}

type Pending interface {
	Add(ctx context.Context, id string) error
	Remove(ctx context.Context, id string) error
	All(ctx context.Context) ([]string, error)
}

type Answer struct {
	VoucherCode     string
	CodeChallenge   string
	TransformMethod string
}

// Provider orders vouchers. An Unavailable error does not fail the order:
// the provider may still have made the code.
type Provider interface {
	Request(ctx context.Context, requestID, phone string) (Answer, error)
	Status(ctx context.Context, requestID string) (domain.ProviderStatus, error)
}

type App struct {
	Orders   Orders
	Pending  Pending
	Provider Provider
	// Outcomes republishes an outcome that may have been lost.
	Outcomes     Publisher
	Now          func() time.Time
	LateAfter    time.Duration
	Deadline     time.Duration
	RecheckEvery time.Duration
	Lease        time.Duration
	// Instance names this replica in claims.
	Instance string
	Log      *slog.Logger
	// Due, if set, holds new orders until they come due. Most orders end
	// before then, so they never contend on Pending's shards.
	Due      persist.Schedule
	Failures persist.FailureCounter
	// Work calls the provider off the broker's delivery, so the next
	// request-code is not held up. A call lost in a crash is left to the
	// reconciler.
	Work *work.Pool
}

func (a App) info(ctx context.Context, msg string, args ...any) {
	if a.Log != nil {
		a.Log.InfoContext(ctx, msg, args...)
	}
}

// inTrace returns ctx in the trace of o's purchase. A request that started
// a trace of its own for want of one (a callback, a cron tick with tracing
// off) takes the purchase's instead, its log line too; otherwise the work
// on o runs in the purchase's trace while the request keeps its own.
func inTrace(ctx context.Context, o domain.Order) context.Context {
	sc, ok := tracing.Parse(o.TraceParent)
	if !ok || tracing.TraceID(ctx) == sc.TraceID().String() {
		return ctx
	}
	if adopted, ok := tracing.Adopt(ctx, o.TraceParent); ok {
		return adopted
	}
	return tracing.With(ctx, sc)
}

// Publisher publishes without the outbox: the order is already stored.
type Publisher interface {
	Publish(ctx context.Context, topic, ceType string, data any) error
}

func orderKey(requestID string) string { return "order|" + requestID }

func (a App) rules() domain.Rules {
	return domain.Rules{LateAfter: a.LateAfter, Deadline: a.Deadline, RecheckEvery: a.RecheckEvery, Lease: a.Lease}
}

func receiveCode(ev *events.ReceiveCode) *persist.Event {
	return &persist.Event{Topic: events.TopicReceiveCode, Type: events.TypeReceiveCode, Data: *ev}
}

// HandleRequestCode orders one voucher. The first write wins, so a
// redelivered event never orders twice.
func (a App) HandleRequestCode(ctx context.Context, ev events.RequestCode) error {
	ctx, span := tracing.Start(ctx, "open order")
	defer span.End()
	o, err := a.rules().Open(ev, tracing.Traceparent(ctx), a.Now())
	if err != nil {
		return err
	}
	err = a.Orders.Insert(ctx, orderKey(ev.RequestID), o, nil)
	if errors.Is(err, persist.ErrExists) {
		existing, _, gerr := a.Orders.Get(ctx, orderKey(ev.RequestID))
		if gerr != nil {
			return gerr
		}
		ctx = inTrace(ctx, existing)
		switch existing.Again() {
		case domain.AgainPublish:
			// Consumers are idempotent on requestId.
			if a.Outcomes == nil {
				return nil
			}
			a.info(ctx, "order asked for again: outcome published again", "purchase_id", existing.RequestID, "status", existing.Status)
			return a.Outcomes.Publish(ctx, events.TopicReceiveCode, events.TypeReceiveCode, existing.Outcome())
		case domain.AgainNothing:
			return nil
		case domain.AgainAsk:
			o = existing
		}
	} else if err != nil {
		return err
	}
	// Tracked before the call, so a crash during it leaves the order to
	// the reconciler.
	if err := a.track(ctx, o.RequestID); err != nil {
		return err
	}
	return a.Work.Hand(ctx, func(ctx context.Context) error { return a.order(ctx, o) },
		func(ctx context.Context, err error) {
			if a.Log != nil {
				a.Log.WarnContext(ctx, "order left to the reconciler", "purchase_id", o.RequestID, "error", err)
			}
		})
}

func (a App) track(ctx context.Context, id string) error {
	if a.Due != nil {
		return a.Due.Add(ctx, id, a.RecheckEvery)
	}
	return a.Pending.Add(ctx, id)
}

// order calls the provider. No answer is left to the reconciler.
func (a App) order(ctx context.Context, o domain.Order) error {
	callCtx, span := tracing.StartClient(ctx, "call provider")
	ans, err := a.Provider.Request(callCtx, o.RequestID, o.PhoneNumber)
	tracing.End(span, err)
	switch {
	case errs.KindOf(err) == errs.Invalid:
		a.info(ctx, "order refused by the provider", "purchase_id", o.RequestID, "error", err)
		return a.fail(ctx, o.RequestID, "the provider refused the order")
	case err != nil:
		a.info(ctx, "order without answer: the reconciler takes over", "purchase_id", o.RequestID, "error", err)
		return nil
	case ans.VoucherCode != "":
		return a.complete(ctx, o.RequestID, ans.VoucherCode, domain.ViaAnswer)
	case ans.CodeChallenge != "":
		a.info(ctx, "order acknowledged: the code comes by callback", "purchase_id", o.RequestID)
		_, err := a.Orders.Update(ctx, orderKey(o.RequestID), func(cur *domain.Order, exists bool) (*persist.Event, error) {
			next, changed := cur.Acknowledge(ans.CodeChallenge, ans.TransformMethod, a.Now())
			if !exists || !changed {
				return nil, persist.ErrNoChange
			}
			*cur = next
			return nil, nil
		})
		return err
	default:
		return nil
	}
}

// HandleCallback accepts a late code once, and only with the verifier of
// the stored challenge.
func (a App) HandleCallback(ctx context.Context, cb vpsapi.Callback) error {
	if err := domain.CheckCallback(cb.RequestID, cb.CodeVerifier, cb.VoucherCode); err != nil {
		return err
	}
	o, _, err := a.Orders.Get(ctx, orderKey(cb.RequestID))
	if err != nil {
		return err
	}
	if err := o.VerifyCallback(cb.CodeVerifier); err != nil {
		return err
	}
	ctx = inTrace(ctx, o)
	late, err := domain.ReadLate(cb.Status, cb.Message, cb.VoucherCode)
	if err != nil {
		return err
	}
	if late.Failed {
		return a.fail(ctx, cb.RequestID, late.Reason)
	}
	done, err := a.recordCode(ctx, cb.RequestID, late.Code, domain.ViaCallback)
	if err == nil && !done {
		return domain.ErrHasOutcome
	}
	return err
}

func (a App) complete(ctx context.Context, requestID, code string, via domain.Via) error {
	_, err := a.recordCode(ctx, requestID, code, via)
	return err
}

// recordCode tells whether this call, not an earlier one, recorded the code.
func (a App) recordCode(ctx context.Context, requestID, code string, via domain.Via) (bool, error) {
	done := false
	order, err := a.Orders.Update(ctx, orderKey(requestID), func(o *domain.Order, exists bool) (*persist.Event, error) {
		done = false
		if !exists {
			return nil, errs.E(errs.NotFound, "no order %s", requestID)
		}
		next, ev, changed := a.rules().Complete(*o, code, via, a.Now())
		if !changed {
			return nil, persist.ErrNoChange
		}
		*o, done = next, true
		return receiveCode(ev), nil
	})
	if err != nil {
		return false, err
	}
	if done {
		a.info(ctx, "voucher code recorded", "purchase_id", requestID, "via", via)
	}
	return done, a.untrack(ctx, order)
}

// untrack skips orders that ended before they came due: they were never
// put in Pending. One put there anyway (replicas' clocks apart) is taken
// out by the reconciler when it finds it final.
func (a App) untrack(ctx context.Context, o domain.Order) error {
	if a.Due != nil && !o.RequestedAt.IsZero() && a.Now().Sub(o.RequestedAt) < a.RecheckEvery/2 {
		return nil
	}
	return a.Pending.Remove(ctx, o.RequestID)
}

func (a App) fail(ctx context.Context, requestID, reason string) error {
	failed := false
	order, err := a.Orders.Update(ctx, orderKey(requestID), func(o *domain.Order, exists bool) (*persist.Event, error) {
		failed = false
		next, ev, changed := o.Fail(reason, a.Now())
		if !exists || !changed {
			return nil, persist.ErrNoChange
		}
		*o, failed = next, true
		return receiveCode(ev), nil
	})
	if err != nil {
		return err
	}
	if failed {
		a.info(ctx, "order failed", "purchase_id", requestID, "reason", reason)
	}
	if order.RequestID == "" {
		order.RequestID = requestID
	}
	return a.untrack(ctx, order)
}

type Summary struct {
	Looked, Completed, Failed, Waiting int
	Errors                             errs.Reasons
}

// Reconcile moves on every pending order that is due, at most workers at
// once.
func (a App) Reconcile(ctx context.Context, workers int) (Summary, error) {
	if a.Due != nil {
		// A failed sweep is retried next pass; Pending is reconciled anyway.
		if _, err := a.Due.SweepEach(ctx, func(ctx context.Context, ids []string) []error {
			return persist.EachFound(ctx, a.Orders, ids, orderKey, func(ctx context.Context, id string, o domain.Order) error {
				if o.Final() {
					return nil
				}
				return a.Pending.Add(ctx, id)
			})
		}); err != nil {
			if a.Log != nil {
				a.Log.WarnContext(ctx, "new orders not handed to the reconciler yet", "reason", errs.Reason(err), "error", err)
			}
			a.countFailure(err)
		}
	}
	ids, err := a.Pending.All(ctx)
	if err != nil {
		a.countFailure(err)
		return Summary{}, err
	}
	// One slot per order, each written by its own goroutine: no lock.
	outcomes := make([]reconciled, len(ids))
	failures := make([]error, len(ids))
	var g errgroup.Group
	g.SetLimit(max(workers, 1))
	for i, id := range ids {
		g.Go(func() error {
			outcome, err := a.reconcileOne(ctx, id)
			if err != nil {
				if a.Log != nil {
					a.Log.WarnContext(ctx, "order not moved on in this reconcile pass; looked at again later",
						"purchase_id", id, "reason", errs.Reason(err), "error", err)
				}
				if outcome == reconciledNothing {
					outcome = reconciledWaiting
				}
			}
			outcomes[i], failures[i] = outcome, err
			return nil // one order's failure must not stop the others
		})
	}
	_ = g.Wait()
	s := Summary{Looked: len(ids)}
	for i, outcome := range outcomes {
		s.Errors = s.Errors.Add(failures[i])
		switch outcome {
		case reconciledCompleted:
			s.Completed++
		case reconciledFailed:
			s.Failed++
		case reconciledWaiting:
			s.Waiting++
		case reconciledNothing, reconciledFinished:
		}
	}
	if a.Failures != nil && len(s.Errors) > 0 {
		a.Failures.Failed("reconcile", s.Errors)
	}
	return s, nil
}

func (a App) countFailure(err error) {
	if a.Failures != nil {
		a.Failures.Failed("reconcile", errs.Reasons{}.Add(err))
	}
}

type reconciled int

const (
	// reconciledNothing: not due, or held by another replica.
	reconciledNothing reconciled = iota
	reconciledFinished
	reconciledCompleted
	reconciledFailed
	reconciledWaiting
)

func (a App) reconcileOne(ctx context.Context, id string) (reconciled, error) {
	now := a.Now()
	rules := a.rules()
	claim := domain.NotDue
	o, err := a.Orders.Update(ctx, orderKey(id), func(o *domain.Order, exists bool) (*persist.Event, error) {
		next, c := rules.Claim(*o, a.Instance, now)
		claim = c
		if !exists || c != domain.Claimed {
			return nil, persist.ErrNoChange
		}
		*o = next
		return nil, nil
	})
	if err != nil {
		return reconciledNothing, err
	}
	switch claim {
	case domain.Finished:
		return reconciledFinished, a.Pending.Remove(ctx, id)
	case domain.NotDue:
		return reconciledNothing, nil
	case domain.Claimed:
	}
	// Each order in its purchase's trace; never Adopt here: the orders of
	// one pass share the pass's context.
	if sc, ok := tracing.Parse(o.TraceParent); ok {
		ctx = tracing.With(ctx, sc)
	}
	callCtx, span := tracing.StartClient(ctx, "ask provider")
	st, statusErr := a.Provider.Status(callCtx, id)
	tracing.End(span, statusErr)
	switch rules.Decide(o, st, statusErr, now) {
	case domain.StepFail:
		return reconciledFailed, a.fail(ctx, id, rules.DeadlineReason())
	case domain.StepComplete:
		return reconciledCompleted, a.complete(ctx, id, st.VoucherCode, domain.ViaReconciler)
	case domain.StepOrderAgain:
		// The provider failed before recording it; the requestId makes a
		// second order safe.
		if err := a.order(ctx, o); err != nil {
			return reconciledNothing, err
		}
		if cur, _, err := a.Orders.Get(ctx, orderKey(id)); err == nil && cur.Final() {
			return reconciledCompleted, nil
		}
	case domain.StepWait:
	}
	_, err = a.Orders.Update(ctx, orderKey(id), func(cur *domain.Order, exists bool) (*persist.Event, error) {
		next, changed := rules.Release(*cur, a.Now())
		if !exists || !changed {
			return nil, persist.ErrNoChange
		}
		*cur = next
		return nil, nil
	})
	if err == nil && statusErr != nil {
		err = fmt.Errorf("provider status: %w", statusErr)
	}
	return reconciledWaiting, err
}
