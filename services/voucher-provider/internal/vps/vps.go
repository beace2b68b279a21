// Package vps is the fake Voucher Provider Server: it issues one code per
// requestId, however often it is asked.
package vps

import (
	"crypto/rand"
	"sync"
	"time"
)

// Order is what the fake remembers of one requestId.
type Order struct {
	RequestID   string    `json:"requestId"`
	PhoneNumber string    `json:"phoneNumber"`
	Status      string    `json:"status"`
	VoucherCode string    `json:"voucherCode,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	// Calls counts the requests made for this requestId; CodesIssued must
	// never pass 1 (tests read it to prove nothing was bought twice).
	Calls       int `json:"calls"`
	CodesIssued int `json:"codesIssued"`
}

// Provider holds the orders in memory: a fake for local runs and tests.
type Provider struct {
	mu     sync.Mutex
	orders map[string]*Order
	now    func() time.Time
}

// New returns an empty provider.
func New(now func() time.Time) *Provider {
	return &Provider{orders: map[string]*Order{}, now: now}
}

// Request returns the order for requestId, issuing its code on the first
// call only: requestId is the idempotency key.
func (p *Provider) Request(requestID, phone string) Order {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.orders[requestID]
	if !ok {
		o = &Order{RequestID: requestID, PhoneNumber: phone, Status: "SUCCESS", CreatedAt: p.now(),
			VoucherCode: newCode(), CodesIssued: 1}
		p.orders[requestID] = o
	}
	o.Calls++
	return *o
}

// Get returns the order for requestId.
func (p *Provider) Get(requestID string) (Order, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.orders[requestID]
	if !ok {
		return Order{}, false
	}
	return *o, true
}

// Orders returns every order, for tests and demos.
func (p *Provider) Orders() []Order {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Order, 0, len(p.orders))
	for _, o := range p.orders {
		out = append(out, *o)
	}
	return out
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
