// Package vps is the fake Voucher Provider Server. Its deterministic modes
// let tests and demos reach every path of a purchase.
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

type Mode string

const (
	Immediate Mode = "immediate"
	Late      Mode = "late"
	VeryLate  Mode = "very-late"
	// Error records nothing while it fails, so the caller must order again.
	Error Mode = "error"
	// Hang records the order, so a status read finds it PENDING.
	Hang Mode = "hang"
	Down Mode = "down"
)

// ModeByLastDigit works like a payment sandbox's test cards.
var ModeByLastDigit = map[byte]Mode{
	'0': Immediate, '1': Immediate, '2': Immediate, '3': Immediate, '4': Immediate,
	'5': Late, '6': VeryLate, '7': Error, '8': Hang, '9': Down,
}

// Config's durations let the end-to-end suite run scaled down.
type Config struct {
	// Mode, if set, overrides the last digit.
	Mode Mode
	// AckAfter sits just under the caller's 3 s budget.
	AckAfter      time.Duration
	LateAfter     time.Duration
	VeryLateAfter time.Duration
	RecoverAfter  time.Duration
}

type Status string

const (
	StatusPending Status = "PENDING"
	StatusSuccess Status = "SUCCESS"
)

type Order struct {
	RequestID   string
	PhoneNumber string
	Mode        Mode
	Status      Status
	VoucherCode string
	CreatedAt   time.Time
	// Tests read CodesIssued to prove nothing was bought twice.
	Calls       int
	CodesIssued int
	Callbacks   int
	// CodeVerifier lets a test replay a genuine callback.
	CodeVerifier string

	verifier  string
	issueAt   time.Time
	scheduled bool
}

type AnswerKind int

const (
	AnswerCode AnswerKind = iota
	AnswerAck
	AnswerError
	// AnswerHang: held until the order recovers, then answered as it stands.
	AnswerHang
	// AnswerOutageHang: held until the outage ends, then 503.
	AnswerOutageHang
)

type Answer struct {
	Kind            AnswerKind
	Order           Order
	CodeChallenge   string
	TransformMethod string
	HoldFor         time.Duration
}

type Provider struct {
	cfg      Config
	now      func() time.Time
	schedule func(at time.Time, cb vpsapi.Callback)

	mu       sync.Mutex
	orders   map[string]*Order
	failedAt map[string]time.Time

	// The fault suite sets an outage at run time.
	outageMode  Mode
	outageUntil time.Time
}

func (p *Provider) Outage(mode Mode, d time.Duration) error {
	if mode != Error && mode != Hang {
		return fmt.Errorf("an outage is %q or %q", Error, Hang)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outageMode, p.outageUntil = mode, p.now().Add(d)
	return nil
}

// inOutage needs mu held.
func (p *Provider) inOutage(now time.Time) (Answer, bool) {
	if !now.Before(p.outageUntil) {
		return Answer{}, false
	}
	if p.outageMode == Hang {
		return Answer{Kind: AnswerOutageHang, HoldFor: p.outageUntil.Sub(now)}, true
	}
	return Answer{Kind: AnswerError}, true
}

func (p *Provider) OutageAnswer() (Answer, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inOutage(p.now())
}

// New calls schedule once per late order.
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

// order makes the one code on the first successful call.
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

func (p *Provider) visible(o *Order, now time.Time) Order {
	v := *o
	v.Status = StatusSuccess
	if now.Before(o.issueAt) {
		v.Status, v.VoucherCode = StatusPending, ""
	}
	return v
}

func (p *Provider) Get(requestID string) (Order, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.orders[requestID]
	if !ok {
		return Order{}, false
	}
	return p.visible(o, p.now()), true
}

func (p *Provider) CallbackDelivered(requestID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o, ok := p.orders[requestID]; ok {
		o.Callbacks++
	}
}

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

func newVerifier() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// codeAlphabet leaves out 0/O and 1/I, which customers misread.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

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

func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "", Immediate, Late, VeryLate, Error, Hang, Down:
		return m, nil
	}
	return "", fmt.Errorf("unknown provider mode %q (immediate, late, very-late, error, hang, down)", s)
}
