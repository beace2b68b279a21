package app

import (
	"sync"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
)

// Slots bounds how many of one costly kind of work run at once. Password
// hashing is the one it is for: argon2id holds 19 MiB for each hash, so
// 120 sign-ins at once took gateway past a gigabyte, and its CPU from every
// other customer. Past the bound, work is refused at once with 503 and
// Retry-After instead of queueing. One client may hold PerClient slots at
// most (one address cannot take them all). A nil *Slots bounds nothing.
type Slots struct {
	free      chan struct{}
	PerClient int
	mu        sync.Mutex
	held      map[string]int
}

// NewSlots is n slots, perClient of them at most for one client.
func NewSlots(n, perClient int) *Slots {
	return &Slots{free: make(chan struct{}, n), PerClient: perClient, held: map[string]int{}}
}

// busyRetryAfter is what a request refused for want of a slot is told.
const busyRetryAfter = time.Second

// Take takes a slot for client, or refuses with 503; the returned func
// gives it back.
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
