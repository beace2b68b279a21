// Package vps is the fake Voucher Provider Server. It issues at most one code
// per requestId, however often it is asked, and behaves in one of a few
// deterministic modes so tests and demos can reach every path of a purchase.
package vps

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/bankabc/vouchers/api/vpsapi"
	"github.com/bankabc/vouchers/kit/pkce"
)

// Mode is how the fake answers an order.
type Mode string

const (
	// Immediate answers with the code.
	Immediate Mode = "immediate"
	// Late acknowledges at the ack mark, then calls back with the code
	// within the lateness limit.
	Late Mode = "late"
	// VeryLate acknowledges, then calls back after the lateness limit.
	VeryLate Mode = "very-late"
	// Error answers 503 until RecoverAfter has passed since the first call,
	// then behaves as Immediate. While failing it records nothing.
	Error Mode = "error"
	// Hang never answers until RecoverAfter has passed; the order is
	// recorded and its status reads PENDING, then SUCCESS once recovered.
	Hang Mode = "hang"
	// Down answers 503 forever.
	Down Mode = "down"
)

// ModeByLastDigit is the table of the phone number's last digit, like a
// payment sandbox's test cards.
var ModeByLastDigit = map[byte]Mode{
	'0': Immediate, '1': Immediate, '2': Immediate, '3': Immediate, '4': Immediate,
	'5': Late, '6': VeryLate, '7': Error, '8': Hang, '9': Down,
}

// Config holds the fake's durations; all are configuration so the
// end-to-end suite can run them scaled down.
type Config struct {
	// Mode, if set, applies to every number; otherwise the last digit picks.
	Mode Mode
	// AckAfter is how long Late and VeryLate hold the request before the
	// acknowledgement (just under the caller's 3 s budget).
	AckAfter time.Duration
	// LateAfter and VeryLateAfter are when the callback comes, counted from
	// the first request.
	LateAfter     time.Duration
	VeryLateAfter time.Duration
	// RecoverAfter is how long Error and Hang last for an order.
	RecoverAfter time.Duration
}

// Status is where an order stands, as the fake reports it.
type Status string

const (
	StatusPending Status = "PENDING"
	StatusSuccess Status = "SUCCESS"
)

// Order is what the fake remembers of one requestId.
type Order struct {
	RequestID   string
	PhoneNumber string
	Mode        Mode
	Status      Status
	VoucherCode string
	CreatedAt   time.Time
	// Calls counts the order requests made for this requestId; CodesIssued
	// must never pass 1 (tests read it to prove nothing was bought twice).
	Calls       int
	CodesIssued int
	// Callbacks counts the late callbacks delivered.
	Callbacks int
	// CodeVerifier is shown only by Orders, the fake's test listing, so a
	// test can replay a genuine callback.
	CodeVerifier string

	verifier  string
	issueAt   time.Time // when the code becomes visible (late modes, recovery)
	scheduled bool
}

// AnswerKind is how the fake answers an order request.
type AnswerKind int

const (
	// AnswerCode: 200 with the code.
	AnswerCode AnswerKind = iota
	// AnswerAck: 202 with the challenge; the code comes by callback.
	AnswerAck
	// AnswerError: 503.
	AnswerError
	// AnswerHang: held until the order recovers, then answered as it stands.
	AnswerHang
	// AnswerOutageHang: held until the outage ends, then 503.
	AnswerOutageHang
)

// Answer is what the fake says to an order request.
type Answer struct {
	Kind            AnswerKind
	Order           Order
	CodeChallenge   string
	TransformMethod string
	// HoldFor is how long to wait before answering (ack mark, or a hang).
	HoldFor time.Duration
}

// Provider holds the orders in memory: a fake for local runs and tests.
type Provider struct {
	cfg      Config
	now      func() time.Time
	schedule func(at time.Time, cb vpsapi.Callback)

	mu       sync.Mutex
	orders   map[string]*Order
	failedAt map[string]time.Time // first call of an Error-mode order

	// An outage set at run time (fault injection): until outageUntil every
	// call fails (Error) or hangs (Hang) and nothing is recorded.
	outageMode  Mode
	outageUntil time.Time
}

// Outage makes every call fail (Error) or hang (Hang) for d.
func (p *Provider) Outage(mode Mode, d time.Duration) error {
	if mode != Error && mode != Hang {
		return fmt.Errorf("an outage is %q or %q", Error, Hang)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outageMode, p.outageUntil = mode, p.now().Add(d)
	return nil
}

// inOutage returns the answer of an ongoing outage, if any. Call with mu.
func (p *Provider) inOutage(now time.Time) (Answer, bool) {
	if !now.Before(p.outageUntil) {
		return Answer{}, false
	}
	if p.outageMode == Hang {
		return Answer{Kind: AnswerOutageHang, HoldFor: p.outageUntil.Sub(now)}, true
	}
	return Answer{Kind: AnswerError}, true
}

// OutageAnswer tells a status read what an ongoing outage does to it.
func (p *Provider) OutageAnswer() (Answer, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inOutage(p.now())
}

// New returns an empty provider. schedule is called, once per late order,
// with the time its callback is due and the callback.
func New(cfg Config, now func() time.Time, schedule func(at time.Time, cb vpsapi.Callback)) *Provider {
	if schedule == nil {
		schedule = func(time.Time, vpsapi.Callback) {}
	}
	return &Provider{cfg: cfg, now: now, schedule: schedule, orders: map[string]*Order{}, failedAt: map[string]time.Time{}}
}

func (p *Provider) modeOf(phone string) Mode {
	if p.cfg.Mode != "" {
		return p.cfg.Mode
	}
	if phone == "" {
		return Immediate
	}
	if m, ok := ModeByLastDigit[phone[len(phone)-1]]; ok {
		return m
	}
	return Immediate
}

// Request takes an order; requestID is the idempotency key.
func (p *Provider) Request(requestID, phone string) Answer {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if a, ok := p.inOutage(now); ok {
		return a
	}
	mode := p.modeOf(phone)
	if o, ok := p.orders[requestID]; ok {
		mode = o.Mode
	}
	switch mode {
	case Down:
		return Answer{Kind: AnswerError}
	case Error:
		first, seen := p.failedAt[requestID]
		if !seen {
			p.failedAt[requestID] = now
			first = now
		}
		if now.Sub(first) < p.cfg.RecoverAfter {
			return Answer{Kind: AnswerError}
		}
	case Immediate, Late, VeryLate, Hang:
	}
	o := p.order(requestID, phone, mode, now)
	o.Calls++
	switch mode {
	case Hang:
		if now.Before(o.issueAt) {
			return Answer{Kind: AnswerHang, Order: *o, HoldFor: o.issueAt.Sub(now)}
		}
		return Answer{Kind: AnswerCode, Order: p.visible(o, now)}
	case Late, VeryLate:
		if !o.scheduled {
			o.scheduled = true
			p.schedule(o.issueAt, vpsapi.Callback{RequestID: o.RequestID, CodeVerifier: o.verifier,
				VoucherCode: o.VoucherCode, Status: string(StatusSuccess), Message: "voucher code issued"})
		}
		return Answer{Kind: AnswerAck, Order: p.visible(o, now), CodeChallenge: pkce.Challenge(o.verifier),
			TransformMethod: pkce.MethodS256, HoldFor: p.cfg.AckAfter}
	case Immediate, Error, Down:
	}
	return Answer{Kind: AnswerCode, Order: p.visible(o, now)}
}

// order returns the order for requestID, making it (and its one code) on
// the first successful call.
func (p *Provider) order(requestID, phone string, mode Mode, now time.Time) *Order {
	if o, ok := p.orders[requestID]; ok {
		return o
	}
	o := &Order{RequestID: requestID, PhoneNumber: phone, Mode: mode, CreatedAt: now,
		VoucherCode: newCode(), CodesIssued: 1, verifier: newVerifier(), issueAt: now}
	switch mode {
	case Late:
		o.issueAt = now.Add(p.cfg.LateAfter)
	case VeryLate:
		o.issueAt = now.Add(p.cfg.VeryLateAfter)
	case Hang:
		o.issueAt = now.Add(p.cfg.RecoverAfter)
	case Immediate, Error, Down:
	}
	p.orders[requestID] = o
	return o
}

// visible is the order as the outside may see it at now: no code before
// it is issued.
func (p *Provider) visible(o *Order, now time.Time) Order {
	v := *o
	v.Status = StatusSuccess
	if now.Before(o.issueAt) {
		v.Status, v.VoucherCode = StatusPending, ""
	}
	return v
}

// Get returns the order for requestID as it stands.
func (p *Provider) Get(requestID string) (Order, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.orders[requestID]
	if !ok {
		return Order{}, false
	}
	return p.visible(o, p.now()), true
}

// CallbackDelivered counts a delivered callback.
func (p *Provider) CallbackDelivered(requestID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o, ok := p.orders[requestID]; ok {
		o.Callbacks++
	}
}

// Orders returns every order with its counters, for tests and demos.
func (p *Provider) Orders() []Order {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Order, 0, len(p.orders))
	for _, o := range p.orders {
		v := *o
		v.Status = p.visible(o, p.now()).Status
		v.CodeVerifier = o.verifier
		out = append(out, v)
	}
	return out
}

// newVerifier makes a 43-character RFC 7636 code verifier.
func newVerifier() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// codeAlphabet leaves out 0/O and 1/I, which customers misread.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// newCode makes a code like 7KQ2-MX9D-4HTP.
func newCode() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	out := make([]byte, 0, 14)
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			out = append(out, '-')
		}
		out = append(out, codeAlphabet[int(c)%len(codeAlphabet)])
	}
	return string(out)
}

// ParseMode checks a configured mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "", Immediate, Late, VeryLate, Error, Hang, Down:
		return m, nil
	}
	return "", fmt.Errorf("unknown provider mode %q (immediate, late, very-late, error, hang, down)", s)
}
