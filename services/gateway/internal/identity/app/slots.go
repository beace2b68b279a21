package app

import (
	"sync"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
)

// Slots bounds concurrent password hashes. argon2id holds 19 MiB a hash, so
// 120 sign-ins at once took gateway past a gigabyte. Past the bound, work is
// refused with 503 instead of queueing, and one client holds at most
// PerClient slots. A nil *Slots bounds nothing.
type Slots struct {
	free      chan struct{}
	PerClient int
	mu        sync.Mutex
	held      map[string]int
}

// NewSlots is n slots, at most perClient for one client.
func NewSlots(n, perClient int) *Slots {
	return &Slots{free: make(chan struct{}, n), PerClient: perClient, held: map[string]int{}}
}

const busyRetryAfter = time.Second

// Take takes a slot for client or refuses with 503.
func (s *Slots) Take(client string) (func(), error) {
	if s == nil {
		return func() {}, nil
	}
	busy := &errs.Error{Kind: errs.Unavailable, RetryAfter: busyRetryAfter,
		Message: "too many sign-ins at once: try again in a second"}
	s.mu.Lock()
	if s.PerClient > 0 && s.held[client] >= s.PerClient {
		s.mu.Unlock()
		return nil, busy
	}
	s.held[client]++
	s.mu.Unlock()
	giveBack := func() {
		s.mu.Lock()
		if s.held[client]--; s.held[client] <= 0 {
			delete(s.held, client)
		}
		s.mu.Unlock()
	}
	select {
	case s.free <- struct{}{}:
		return func() { <-s.free; giveBack() }, nil
	default:
		giveBack()
		return nil, busy
	}
}
