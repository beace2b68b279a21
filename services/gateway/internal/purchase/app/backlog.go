package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
)

// Backlog refuses purchases with 503 past Max open on this replica: work that
// cannot finish within the 30-second promise would make every purchase late.
// Admit rechecks the oldest first, since another replica may have finished
// them. PerCustomer keeps one account from filling Max alone. A nil
// *Backlog admits everything.
type Backlog struct {
	Max         int
	PerCustomer int
	Forget      time.Duration
	// RetryAfter is what a refused customer is told to wait.
	RetryAfter time.Duration
	Now        func() time.Time
	// Finished reads a request's outcome; nil means never asked.
	Finished     func(ctx context.Context, requestID string) (bool, error)
	Recheck      int
	RecheckEvery time.Duration

	mu        sync.Mutex
	open      map[string]openEntry
	byUser    map[string]int // open purchases per customer
	order     []admitted     // admission order, for forgetting; may hold finished ids
	checking  bool
	checkedAt time.Time
}

type admitted struct {
	id string
	at time.Time
}

type openEntry struct {
	at   time.Time
	user string
}

type admission int

const (
	admittedNow admission = iota
	backlogFull
	customerFull
)

// Admit counts requestID in, or refuses it past Max or PerCustomer.
func (b *Backlog) Admit(ctx context.Context, requestID, userID string) error {
	if b == nil {
		return nil
	}
	got := b.admit(requestID, userID)
	switch {
	case got == backlogFull && b.recheck(ctx, b.oldest()):
		got = b.admit(requestID, userID)
	case got == customerFull && b.recheck(ctx, b.ofUser(userID)):
		got = b.admit(requestID, userID)
	}
	switch got {
	case admittedNow:
		return nil
	case backlogFull:
		return &errs.Error{Kind: errs.Unavailable, RetryAfter: b.RetryAfter,
			Message: "too many purchases are being processed: try again shortly, nothing was bought"}
	case customerFull:
		return &errs.Error{Kind: errs.TooManyRequests, RetryAfter: b.RetryAfter,
			Message: fmt.Sprintf("you have %d purchases in progress: try again once one has finished, nothing was bought", b.PerCustomer)}
	}
	return nil
}

func (b *Backlog) admit(requestID, userID string) admission {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.Now()
	if b.open == nil {
		b.open, b.byUser = map[string]openEntry{}, map[string]int{}
	}
	// Forget old entries, and drop finished ones from the front.
	for len(b.order) > 0 {
		first := b.order[0]
		e, stillOpen := b.open[first.id]
		if stillOpen && e.at.Equal(first.at) && now.Sub(first.at) < b.Forget {
			break
		}
		if stillOpen && e.at.Equal(first.at) {
			b.drop(first.id)
		}
		b.order[0] = admitted{}
		b.order = b.order[1:]
	}
	if len(b.open) >= b.Max {
		return backlogFull
	}
	if b.PerCustomer > 0 && b.byUser[userID] >= b.PerCustomer {
		return customerFull
	}
	if _, again := b.open[requestID]; again {
		b.drop(requestID) // counted once, from now
	}
	b.open[requestID] = openEntry{at: now, user: userID}
	b.byUser[userID]++
	b.order = append(b.order, admitted{id: requestID, at: now})
	return admittedNow
}

// drop counts id out; b.mu is held.
func (b *Backlog) drop(id string) {
	e, ok := b.open[id]
	if !ok {
		return
	}
	delete(b.open, id)
	if b.byUser[e.user]--; b.byUser[e.user] <= 0 {
		delete(b.byUser, e.user)
	}
}

func (b *Backlog) oldest() func() []string {
	return func() []string {
		var ids []string
		for _, a := range b.order {
			if len(ids) == b.Recheck {
				break
			}
			if e, ok := b.open[a.id]; ok && e.at.Equal(a.at) {
				ids = append(ids, a.id)
			}
		}
		return ids
	}
}

func (b *Backlog) ofUser(userID string) func() []string {
	return func() []string {
		var ids []string
		for id, e := range b.open {
			if e.user == userID {
				ids = append(ids, id)
			}
		}
		return ids
	}
}

// recheck drops finished purchases, at most once per RecheckEvery.
func (b *Backlog) recheck(ctx context.Context, pick func() []string) bool {
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
	ids := pick()
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
			b.drop(id)
		}
	}
	b.checking = false
	b.mu.Unlock()
	return true
}

// Done counts requestID out once its outcome is recorded or it was never stored.
func (b *Backlog) Done(requestID string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.drop(requestID)
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
