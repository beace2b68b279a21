package app

import (
	"time"

	"github.com/bankabc/vouchers/kit/errs"
)

// Slots bounds how many of one costly kind of work run at once. Password
// hashing is the one it is for: argon2id holds 19 MiB for each hash, so
// 120 sign-ins at once took gateway past a gigabyte, and its CPU from every
// other customer. Past the bound, work is refused at once with 503 and
// Retry-After instead of queueing. A nil Slots bounds nothing.
type Slots chan struct{}

// NewSlots is n slots.
func NewSlots(n int) Slots { return make(Slots, n) }

// busyRetryAfter is what a request refused for want of a slot is told.
const busyRetryAfter = time.Second

// Take takes a slot, or refuses with 503; the returned func gives it back.
func (s Slots) Take() (func(), error) {
	if s == nil {
		return func() {}, nil
	}
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	default:
		return nil, &errs.Error{Kind: errs.Unavailable, RetryAfter: busyRetryAfter,
			Message: "too many sign-ins at once: try again in a second"}
	}
}
