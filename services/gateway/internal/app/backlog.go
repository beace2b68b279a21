package app

import (
	"context"
	"sync"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
)

// Backlog is admission by backlog: it bounds the purchases this replica
// accepted and has not yet seen finish. Past Max a purchase is refused at
// once, 503 with Retry-After, instead of queueing behind work that the
// system cannot finish within the 30 seconds it promises: past capacity,
// the accepted ones keep their latency and the rest are told to come back.
//
// The count is this replica's own, and a purchase whose receive-code
// another replica handles is not seen to finish here. So when the count
// reaches Max, Admit first asks Finished about the oldest open purchases
// (at most Recheck of them, at most once per RecheckEvery) and drops the
// finished ones; only then does it refuse. An entry is forgotten Forget
// after it was admitted, finished or not, which bounds the memory.
//
// A nil *Backlog admits everything.
type Backlog struct {
	Max    int
	Forget time.Duration
	// RetryAfter is what a refused customer is told to wait.
	RetryAfter time.Duration
	Now        func() time.Time
	// Finished tells whether a request has its outcome (read from the
	// requests' store); nil: never asked.
	Finished     func(ctx context.Context, requestID string) (bool, error)
	Recheck      int
	RecheckEvery time.Duration

	mu        sync.Mutex
	open      map[string]time.Time
	order     []admitted // admission order, for forgetting; may hold finished ids
	checking  bool
	checkedAt time.Time
}

type admitted struct {
	id string
	at time.Time
}

// Admit counts requestID in, or refuses it when Max are open.
func (b *Backlog) Admit(ctx context.Context, requestID string) error {
	if b == nil {
		return nil
	}
	if b.admit(requestID) {
		return nil
	}
	if b.recheck(ctx) && b.admit(requestID) {
		return nil
	}
	return &errs.Error{Kind: errs.Unavailable, RetryAfter: b.RetryAfter,
		Message: "too many purchases are being processed: try again shortly, nothing was bought"}
}

// admit counts requestID in if fewer than Max are open.
func (b *Backlog) admit(requestID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.Now()
	if b.open == nil {
		b.open = map[string]time.Time{}
	}
	// Forget the oldest entries past Forget, and drop finished ones from
	// the front of the order.
	for len(b.order) > 0 {
		first := b.order[0]
		at, stillOpen := b.open[first.id]
		if stillOpen && at.Equal(first.at) && now.Sub(first.at) < b.Forget {
			break
		}
		if stillOpen && at.Equal(first.at) {
			delete(b.open, first.id)
		}
		b.order[0] = admitted{}
		b.order = b.order[1:]
	}
	if len(b.open) >= b.Max {
		return false
	}
	b.open[requestID] = now
	b.order = append(b.order, admitted{id: requestID, at: now})
	return true
}

// recheck asks Finished about the oldest open purchases and drops the
// finished ones. It reports whether it ran: one caller at a time, at most
// once per RecheckEvery; the others are refused meanwhile.
func (b *Backlog) recheck(ctx context.Context) bool {
	if b.Finished == nil || b.Recheck <= 0 {
		return false
	}
	b.mu.Lock()
	now := b.Now()
	if b.checking || now.Sub(b.checkedAt) < b.RecheckEvery {
		b.mu.Unlock()
		return false
	}
	b.checking, b.checkedAt = true, now
	var ids []string
	for _, a := range b.order {
		if len(ids) == b.Recheck {
			break
		}
		if at, ok := b.open[a.id]; ok && at.Equal(a.at) {
			ids = append(ids, a.id)
		}
	}
	b.mu.Unlock()

	done := make([]bool, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			finished, err := b.Finished(ctx, id)
			done[i] = err == nil && finished
		}()
	}
	wg.Wait()

	b.mu.Lock()
	for i, id := range ids {
		if done[i] {
			delete(b.open, id)
		}
	}
	b.checking = false
	b.mu.Unlock()
	return true
}

// Done counts requestID out: its outcome is recorded, or it was never
// stored.
func (b *Backlog) Done(requestID string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	delete(b.open, requestID)
	b.mu.Unlock()
}

// Open is how many purchases count now.
func (b *Backlog) Open() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.open)
}
