// Package domain holds voucher-int's rules: an order's life, from the
// request-code that opens it to the receive-code that ends it, as methods
// that take the order as it is and return it as it becomes, with the event
// to publish. No I/O, no Dapr, no clock: the time is passed in.
package domain

import (
	"fmt"
	"time"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/pkce"
)

// OrderStatus is where an order stands. The outcomes are spelled as in
// the receive-code event.
type OrderStatus string

const (
	// StatusNone is the status of an order that was never stored.
	StatusNone        OrderStatus = ""
	StatusPending     OrderStatus = "PENDING"
	StatusSuccess     OrderStatus = events.StatusSuccess
	StatusLateSuccess OrderStatus = events.StatusLateSuccess
	StatusFailed      OrderStatus = events.StatusFailed
)

// Final tells whether s is an outcome.
func (s OrderStatus) Final() bool {
	switch s {
	case StatusNone, StatusPending:
		return false
	case StatusSuccess, StatusLateSuccess, StatusFailed:
		return true
	}
	// Written by a newer build: only outcomes are added.
	return true
}

// Via is how an order's code came.
type Via string

const (
	ViaNone       Via = ""
	ViaAnswer     Via = "answer"
	ViaCallback   Via = "callback"
	ViaReconciler Via = "reconciler"
)

// Order is one purchase from the provider, keyed by requestId.
type Order struct {
	RequestID   string
	PhoneNumber string
	Status      OrderStatus
	VoucherCode string
	Reason      string
	RequestedAt time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Deadline: no code by then and the order ends FAILED.
	Deadline time.Time
	// The acknowledgement's challenge, which a late callback must match.
	CodeChallenge   string
	TransformMethod string
	// How the code came: ViaAnswer, ViaCallback or ViaReconciler.
	Via Via
	// The reconciler's bookkeeping: when to look again, and who holds the
	// order meanwhile (claimed with the ETag, so two replicas never both work
	// on one order).
	NextCheckAt  time.Time
	ClaimedBy    string
	ClaimedUntil time.Time
	Checks       int
	// TraceParent is the trace of the purchase (W3C traceparent of the
	// request-code event), so that a code that comes later, by callback or
	// through the reconciler, is published in the purchase's trace.
	TraceParent string
}

// Rules are the times an order lives by.
type Rules struct {
	// LateAfter: a code that comes later than this after the request is
	// LATE_SUCCESS (0: never late).
	LateAfter time.Duration
	// Deadline: an order with no code this long after the request is FAILED.
	Deadline time.Duration
	// RecheckEvery is how often the reconciler asks about a stuck order.
	RecheckEvery time.Duration
	// Lease is how long a claim on an order holds.
	Lease time.Duration
}

// Open is the order a request-code opens, at now.
func (r Rules) Open(ev events.RequestCode, traceParent string, now time.Time) (Order, error) {
	if ev.RequestID == "" || ev.PhoneNumber == "" {
		return Order{}, errs.E(errs.Invalid, "request-code event without requestId or phoneNumber")
	}
	return Order{RequestID: ev.RequestID, PhoneNumber: ev.PhoneNumber, Status: StatusPending,
		RequestedAt: ev.RequestedAt, CreatedAt: now, UpdatedAt: now,
		Deadline: ev.RequestedAt.Add(r.Deadline), NextCheckAt: now.Add(r.RecheckEvery),
		TraceParent: traceParent}, nil
}

// Final tells whether the order has its outcome.
func (o Order) Final() bool { return o.Status.Final() }

// Outcome is the receive-code event of a finished order.
func (o Order) Outcome() events.ReceiveCode {
	return events.ReceiveCode{RequestID: o.RequestID, PhoneNumber: o.PhoneNumber, Status: string(o.Status),
		VoucherCode: o.VoucherCode, Reason: o.Reason, RequestedAt: o.RequestedAt, IssuedAt: o.UpdatedAt}
}

// Again is what a request-code for an order that exists asks for.
type Again int

const (
	// AgainNothing: the provider acknowledged it; its callback will come.
	AgainNothing Again = iota
	// AgainPublish: the order is finished; its outcome may never have
	// reached gateway: publish it again.
	AgainPublish
	// AgainAsk: the provider has not answered: ask it again, with the same
	// requestId.
	AgainAsk
)

// Again tells what a request-code that finds o (redelivered, or sent again
// by gateway's redrive) must do.
func (o Order) Again() Again {
	switch {
	case o.Final():
		return AgainPublish
	case o.CodeChallenge != "":
		return AgainNothing
	}
	return AgainAsk
}

// Complete records code, which came via, at now: SUCCESS, or LATE_SUCCESS
// past LateAfter, with its receive-code. An order already finished keeps
// its outcome (false): a code is recorded once.
func (r Rules) Complete(o Order, code string, via Via, now time.Time) (Order, *events.ReceiveCode, bool) {
	if o.Final() {
		return o, nil, false
	}
	o.Status = StatusSuccess
	if r.LateAfter > 0 && now.Sub(o.RequestedAt) > r.LateAfter {
		o.Status = StatusLateSuccess
	}
	o.VoucherCode, o.Via, o.UpdatedAt = code, via, now
	ev := o.Outcome()
	return o, &ev, true
}

// Fail ends o FAILED with reason at now, unless it is finished already.
func (o Order) Fail(reason string, now time.Time) (Order, *events.ReceiveCode, bool) {
	if o.Final() {
		return o, nil, false
	}
	o.Status, o.Reason, o.UpdatedAt = StatusFailed, reason, now
	ev := o.Outcome()
	return o, &ev, true
}

// Acknowledge keeps the challenge of the provider's acknowledgement, which
// the late callback must answer; once, and only while the order is open.
func (o Order) Acknowledge(challenge, method string, now time.Time) (Order, bool) {
	if o.Final() || o.CodeChallenge != "" {
		return o, false
	}
	o.CodeChallenge, o.TransformMethod, o.UpdatedAt = challenge, method, now
	return o, true
}

// ErrNotVerified is the one answer for an unknown order and a wrong
// verifier alike, so a caller learns nothing from which it was.
var ErrNotVerified = errs.E(errs.Unauthorized, "callback not verified")

// ErrHasOutcome refuses a second outcome for an order.
var ErrHasOutcome = errs.E(errs.Conflict, "this order already has its outcome")

// VerifyCallback checks a late callback's verifier against o's challenge
// (BASE64URL(SHA256(verifier)), constant time). A verified callback for a
// finished order is a replay (Conflict).
func (o Order) VerifyCallback(verifier string) error {
	if o.RequestID == "" || o.CodeChallenge == "" || !pkce.Verify(verifier, o.CodeChallenge, o.TransformMethod) {
		return ErrNotVerified
	}
	if o.Final() {
		return ErrHasOutcome
	}
	return nil
}

// A callback's fields are bounded: a PKCE verifier has at most 128
// characters (RFC 7636), and a code no more than 64.
const (
	maxVerifier = 128
	maxCode     = 64
)

// CheckCallback refuses what cannot be the provider's late answer, before
// its order is read: no requestId or codeVerifier, or a field past its
// bound.
func CheckCallback(requestID, verifier, code string) error {
	if requestID == "" || verifier == "" {
		return errs.E(errs.Invalid, "requestId and codeVerifier are required")
	}
	if len(verifier) > maxVerifier || len(code) > maxCode {
		return errs.E(errs.Invalid, "codeVerifier or voucherCode too long")
	}
	return nil
}

// Late is what a verified late answer reports: its code, or (Failed) that
// the provider could not issue one, and why.
type Late struct {
	Failed bool
	Reason string
	Code   string
}

// ReadLate reads a verified late answer. A status other than SUCCESS (an
// empty one counts as SUCCESS) fails the order with the provider's words;
// a SUCCESS must carry its code.
func ReadLate(status, message, code string) (Late, error) {
	if status != "" && status != events.StatusSuccess {
		return Late{Failed: true, Reason: "the provider reported " + status + ": " + message}, nil
	}
	if code == "" {
		return Late{}, errs.E(errs.Invalid, "voucherCode is required")
	}
	return Late{Code: code}, nil
}

// Claim is what a reconciler's claim on an order found.
type Claim int

const (
	// Claimed: this replica holds the order now.
	Claimed Claim = iota
	// NotDue: not time to look at it again yet, or another replica holds
	// it.
	NotDue
	// Finished: the order has its outcome; it leaves the reconciler's set.
	Finished
)

// Claim takes o for instance at now, for Lease, if it is due and nobody
// else holds it.
func (r Rules) Claim(o Order, instance string, now time.Time) (Order, Claim) {
	if o.RequestID == "" || o.Final() {
		return o, Finished
	}
	if now.Before(o.NextCheckAt) || (o.ClaimedBy != instance && now.Before(o.ClaimedUntil)) {
		return o, NotDue
	}
	o.ClaimedBy, o.ClaimedUntil, o.Checks = instance, now.Add(r.Lease), o.Checks+1
	return o, Claimed
}

// Release gives a claimed order back until its next look, RecheckEvery
// after now.
func (r Rules) Release(o Order, now time.Time) (Order, bool) {
	if o.Final() {
		return o, false
	}
	o.NextCheckAt, o.ClaimedUntil = now.Add(r.RecheckEvery), time.Time{}
	return o, true
}

// ProviderStatus is what the provider says of an order it was asked about.
type ProviderStatus struct {
	Found       bool
	Status      string
	VoucherCode string
}

// Step is the reconciler's next step for a claimed order.
type Step int

const (
	// StepWait: ask again at the next look.
	StepWait Step = iota
	// StepComplete: the provider has the code: record it.
	StepComplete
	// StepOrderAgain: the provider never recorded the order: order it
	// again with the same requestId.
	StepOrderAgain
	// StepFail: past the deadline with no code: the order ends FAILED.
	StepFail
)

// Decide is the reconciler's step for claimed o, given what the provider
// said (st, or the error asking it) at now. Past the deadline the provider
// is asked one last time first: a code it did issue is never dropped.
func (r Rules) Decide(o Order, st ProviderStatus, statusErr error, now time.Time) Step {
	if now.After(o.Deadline) && (statusErr != nil || st.VoucherCode == "") {
		return StepFail
	}
	switch {
	case statusErr != nil:
		return StepWait
	case st.Found && st.VoucherCode != "":
		return StepComplete
	case !st.Found:
		return StepOrderAgain
	}
	return StepWait
}

// DeadlineReason is the reason of an order failed for its deadline.
func (r Rules) DeadlineReason() string {
	return fmt.Sprintf("no voucher code from the provider within %s", r.Deadline)
}
