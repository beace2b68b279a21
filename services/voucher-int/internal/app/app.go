// Package app turns request-code events into provider orders and their
// outcomes into receive-code events. It knows neither Dapr nor HTTP.
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

// Orders is the order store (first write wins; Update is ETag-checked and
// publishes its event in the same transaction).
type Orders interface {
	Insert(ctx context.Context, key string, o domain.Order, ev *persist.Event) error
	Get(ctx context.Context, key string) (domain.Order, bool, error)
	GetMany(ctx context.Context, keys []string) (map[string]domain.Order, error)
	Update(ctx context.Context, key string, fn func(*domain.Order, bool) (*persist.Event, error)) (domain.Order, error)
}

// Pending is the set of orders the reconciler must look at.
type Pending interface {
	Add(ctx context.Context, id string) error
	Remove(ctx context.Context, id string) error
	All(ctx context.Context) ([]string, error)
}

// Answer is what the provider said to an order request: a code, or an
// acknowledgement with the challenge of the code's later callback.
type Answer struct {
	VoucherCode     string
	CodeChallenge   string
	TransformMethod string
}

// Provider orders vouchers; requestID is its idempotency key. An error of
// kind Unavailable (no answer in time, 5xx) is not a failure of the order.
type Provider interface {
	Request(ctx context.Context, requestID, phone string) (Answer, error)
	Status(ctx context.Context, requestID string) (domain.ProviderStatus, error)
}

// App is voucher-int's use cases.
type App struct {
	Orders   Orders
	Pending  Pending
	Provider Provider
	// Outcomes publishes a finished order's receive-code again when its
	// request-code comes again (gateway re-sends it for a request still
	// processing after a while: the first outcome may have been lost).
	Outcomes Publisher
	Now      func() time.Time
	// LateAfter: a code that comes later than this after the request is
	// LATE_SUCCESS.
	LateAfter time.Duration
	// Deadline: an order with no code this long after the request is FAILED.
	Deadline time.Duration
	// RecheckEvery is how often the reconciler asks about a stuck order.
	RecheckEvery time.Duration
	// Lease is how long a claim on an order holds.
	Lease time.Duration
	// Instance names this replica in claims.
	Instance string
	// Log, if set, notes what happens to each order.
	Log *slog.Logger
	// Due, if set, takes a new order instead of Pending: an order still
	// open when it comes due (RecheckEvery later) is put in Pending by the
	// reconciler. Adds are group-committed into time buckets, and most
	// orders end before they come due, so they never touch Pending's
	// shards, which every add and remove would otherwise contend on.
	Due persist.Schedule
	// Failures, if set, counts what each reconcile pass could not do, by
	// reason (kit/metrics.Sweeps).
	Failures persist.FailureCounter
	// Work runs the provider call of a new order once the order is stored,
	// so the broker hands over the next request-code meanwhile (nil: in the
	// handler). An order whose call dies with the process is the
	// reconciler's, as one the provider did not answer.
	Work *work.Pool
}

// info logs with ctx (its request and trace ids) when the app has a log.
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

// Publisher publishes an event's data straight to a topic (not through
// the outbox: the order is already stored).
type Publisher interface {
	Publish(ctx context.Context, topic, ceType string, data any) error
}

func orderKey(requestID string) string { return "order|" + requestID }

// rules are the times the app's orders live by.
func (a App) rules() domain.Rules {
	return domain.Rules{LateAfter: a.LateAfter, Deadline: a.Deadline, RecheckEvery: a.RecheckEvery, Lease: a.Lease}
}

// receiveCode is the outbox event of an order's outcome.
func receiveCode(ev *events.ReceiveCode) *persist.Event {
	return &persist.Event{Topic: events.TopicReceiveCode, Type: events.TypeReceiveCode, Data: *ev}
}

// HandleRequestCode orders one voucher for the event. A redelivered event
// finds the order: with an outcome or an acknowledgement nothing happens; if
// the provider has not answered yet it is asked again with the same
// requestId, which it treats as the same order.
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
	// Known to the reconciler before the provider is called: whatever
	// happens next, the reconciler will see the order.
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

// track makes a new order known to the reconciler.
func (a App) track(ctx context.Context, id string) error {
	if a.Due != nil {
		return a.Due.Add(ctx, id, a.RecheckEvery)
	}
	return a.Pending.Add(ctx, id)
}

// order calls the provider and records what it said. No answer is not a
// failure: the reconciler asks again later.
func (a App) order(ctx context.Context, o domain.Order) error {
	callCtx, span := tracing.StartClient(ctx, "call provider")
	ans, err := a.Provider.Request(callCtx, o.RequestID, o.PhoneNumber)
	tracing.End(span, err)
	switch {
	case errs.KindOf(err) == errs.Invalid:
		a.info(ctx, "order refused by the provider", "purchase_id", o.RequestID, "error", err)
		return a.fail(ctx, o.RequestID, "the provider refused the order")
	case err != nil:
		// Timeout or provider error: the reconciler takes over.
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
		return nil // an answer with neither: treat as no answer
	}
}

// HandleCallback accepts a late code only if BASE64URL(SHA256(codeVerifier))
// equals the stored challenge (compared in constant time), and only once.
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
	done, err := a.completed(ctx, cb.RequestID, late.Code, domain.ViaCallback)
	if err == nil && !done {
		return domain.ErrHasOutcome
	}
	return err
}

// complete records the code once and publishes receive-code with it.
func (a App) complete(ctx context.Context, requestID, code string, via domain.Via) error {
	_, err := a.completed(ctx, requestID, code, via)
	return err
}

// completed is complete that also tells whether this call recorded it.
func (a App) completed(ctx context.Context, requestID, code string, via domain.Via) (bool, error) {
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

// untrack takes a finished order out of the reconciler's set. An order
// that ended well before it came due was never put in it (Due): most end
// in milliseconds, and skipping them saves a read of the set's shard each.
// If one was put in it all the same (clocks of replicas apart), the
// reconciler finds it final and takes it out.
func (a App) untrack(ctx context.Context, o domain.Order) error {
	if a.Due != nil && !o.RequestedAt.IsZero() && a.Now().Sub(o.RequestedAt) < a.RecheckEvery/2 {
		return nil
	}
	return a.Pending.Remove(ctx, o.RequestID)
}

// fail ends the order FAILED with reason and publishes it.
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

// Summary counts what one reconciler pass did.
type Summary struct {
	Looked, Completed, Failed, Waiting int
	// Errors counts, by reason, the orders this pass could not move on
	// (each logged): they are looked at again by a later pass.
	Errors errs.Reasons
}

// Reconcile looks at every pending order that is due: it claims it, asks the
// provider for its status by requestId, and completes it, orders it again
// (the provider never recorded it), fails it after its deadline, or leaves
// it for the next pass. workers bounds the orders handled at once.
func (a App) Reconcile(ctx context.Context, workers int) (Summary, error) {
	if a.Due != nil {
		// Orders that came due and are still open join the set. One whose
		// order cannot be read is looked at again later (Schedule.Sweep);
		// the orders already in the set are looked at all the same.
		// The orders of one second are read in one call.
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
		a.countFailure(err) // the caller logs it, with its reason
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

// countFailure counts a failure of the reconcile pass as a whole (not of
// one order) by its reason; the next pass tries again.
func (a App) countFailure(err error) {
	if a.Failures != nil {
		a.Failures.Failed("reconcile", errs.Reasons{}.Add(err))
	}
}

// reconciled is what a reconcile pass made of one order.
type reconciled int

const (
	// reconciledNothing: not due, or held by another replica.
	reconciledNothing reconciled = iota
	// reconciledFinished: final already, and let go of.
	reconciledFinished
	reconciledCompleted
	reconciledFailed
	// reconciledWaiting: still open, looked at again by a later pass.
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
		// The provider never recorded it (it failed before it could): ask
		// again with the same requestId.
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
