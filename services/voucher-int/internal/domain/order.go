// Package domain holds the rules of an order's life. It does no I/O and
// reads no clock, so every rule is tested without fakes.
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
	StatusNone        OrderStatus = ""
	StatusPending     OrderStatus = "PENDING"
	StatusSuccess     OrderStatus = events.StatusSuccess
	StatusLateSuccess OrderStatus = events.StatusLateSuccess
	StatusFailed      OrderStatus = events.StatusFailed
)

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
	Deadline    time.Time
	// A late callback must answer this challenge.
	CodeChallenge   string
	TransformMethod string
	Via             Via
	// A claim keeps two replicas from reconciling one order at once.
	NextCheckAt  time.Time
	ClaimedBy    string
	ClaimedUntil time.Time
	Checks       int
	// A code that comes later is published in the purchase's trace.
	TraceParent string
}

// Rules are the times an order lives by.
type Rules struct {
	// A code later than LateAfter is LATE_SUCCESS; 0 means never late.
	LateAfter    time.Duration
	Deadline     time.Duration
	RecheckEvery time.Duration
	Lease        time.Duration
}

func (r Rules) Open(ev events.RequestCode, traceParent string, now time.Time) (Order, error) {
	if ev.RequestID == "" || ev.PhoneNumber == "" {
		return Order{}, errs.E(errs.Invalid, "request-code event without requestId or phoneNumber")
	}
	return Order{RequestID: ev.RequestID, PhoneNumber: ev.PhoneNumber, Status: StatusPending,
		RequestedAt: ev.RequestedAt, CreatedAt: now, UpdatedAt: now,
		Deadline: ev.RequestedAt.Add(r.Deadline), NextCheckAt: now.Add(r.RecheckEvery),
		TraceParent: traceParent}, nil
}

func (o Order) Final() bool { return o.Status.Final() }

func (o Order) Outcome() events.ReceiveCode {
	return events.ReceiveCode{RequestID: o.RequestID, PhoneNumber: o.PhoneNumber, Status: string(o.Status),
		VoucherCode: o.VoucherCode, Reason: o.Reason, RequestedAt: o.RequestedAt, IssuedAt: o.UpdatedAt}
}

// Again is what a request-code for an existing order must do. It comes
// again when the broker redelivers it or gateway's redrive resends it.
type Again int

const (
	// AgainNothing: the provider acknowledged; its callback will come.
	AgainNothing Again = iota
	// AgainPublish: the outcome may never have reached gateway.
	AgainPublish
	// AgainAsk: the provider has not answered; the same requestId is safe
	// to send again.
	AgainAsk
)

func (o Order) Again() Again {
	switch {
	case o.Final():
		return AgainPublish
	case o.CodeChallenge != "":
		return AgainNothing
	}
	return AgainAsk
}

// Complete records a code once; a finished order keeps its outcome.
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

func (o Order) Fail(reason string, now time.Time) (Order, *events.ReceiveCode, bool) {
	if o.Final() {
		return o, nil, false
	}
	o.Status, o.Reason, o.UpdatedAt = StatusFailed, reason, now
	ev := o.Outcome()
	return o, &ev, true
}

// Acknowledge keeps the first challenge only, so a replayed
// acknowledgement cannot swap it.
func (o Order) Acknowledge(challenge, method string, now time.Time) (Order, bool) {
	if o.Final() || o.CodeChallenge != "" {
		return o, false
	}
	o.CodeChallenge, o.TransformMethod, o.UpdatedAt = challenge, method, now
	return o, true
}

// ErrNotVerified answers an unknown order and a wrong verifier alike, so
// a caller cannot probe for order ids.
var ErrNotVerified = errs.E(errs.Unauthorized, "callback not verified")

var ErrHasOutcome = errs.E(errs.Conflict, "this order already has its outcome")

// VerifyCallback checks the verifier before anything else, so only the
// real provider learns that an order is finished.
func (o Order) VerifyCallback(verifier string) error {
	if o.RequestID == "" || o.CodeChallenge == "" || !pkce.Verify(verifier, o.CodeChallenge, o.TransformMethod) {
		return ErrNotVerified
	}
	if o.Final() {
		return ErrHasOutcome
	}
	return nil
}

// RFC 7636 caps a verifier at 128 characters.
const (
	maxVerifier = 128
	maxCode     = 64
)

// CheckCallback runs before the order is read, so junk costs no read.
func CheckCallback(requestID, verifier, code string) error {
	if requestID == "" || verifier == "" {
		return errs.E(errs.Invalid, "requestId and codeVerifier are required")
	}
	if len(verifier) > maxVerifier || len(code) > maxCode {
		return errs.E(errs.Invalid, "codeVerifier or voucherCode too long")
	}
	return nil
}

// Late is a verified late answer: a code, or the provider's failure.
type Late struct {
	Failed bool
	Reason string
	Code   string
}

// ReadLate treats an empty status as SUCCESS: the original design's
// callback had none.
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
	Claimed Claim = iota
	// NotDue: too early, or another replica holds it.
	NotDue
	Finished
)

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

func (r Rules) Release(o Order, now time.Time) (Order, bool) {
	if o.Final() {
		return o, false
	}
	o.NextCheckAt, o.ClaimedUntil = now.Add(r.RecheckEvery), time.Time{}
	return o, true
}

type ProviderStatus struct {
	Found       bool
	Status      string
	VoucherCode string
}

// Step is the reconciler's next step for a claimed order.
type Step int

const (
	StepWait Step = iota
	StepComplete
	// StepOrderAgain: the provider never recorded the order.
	StepOrderAgain
	StepFail
)

// Decide fails an order past its deadline only when the provider has no
// code for it, so an issued code is never dropped.
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

func (r Rules) DeadlineReason() string {
	return fmt.Sprintf("no voucher code from the provider within %s", r.Deadline)
}
