package app

import (
	"context"
	"sync"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/services/voucher/internal/domain"
)

// Arrivals hands a voucher this replica stored to the readers waiting for
// it. gateway and voucher read the same receive-code, and gateway asks for
// the voucher before voucher has stored it more often than not.
type Arrivals struct {
	mu      sync.Mutex
	waiting map[string][]chan domain.Voucher
}

func NewArrivals() *Arrivals { return &Arrivals{waiting: map[string][]chan domain.Voucher{}} }

func (a *Arrivals) watch(requestID string) (<-chan domain.Voucher, func()) {
	ch := make(chan domain.Voucher, 1)
	a.mu.Lock()
	a.waiting[requestID] = append(a.waiting[requestID], ch)
	a.mu.Unlock()
	return ch, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		chs := a.waiting[requestID]
		for i, c := range chs {
			if c == ch {
				chs = append(chs[:i], chs[i+1:]...)
				break
			}
		}
		if len(chs) == 0 {
			delete(a.waiting, requestID)
		} else {
			a.waiting[requestID] = chs
		}
	}
}

func (a *Arrivals) arrived(v domain.Voucher) {
	if a == nil {
		return
	}
	a.mu.Lock()
	chs := a.waiting[v.RequestID]
	delete(a.waiting, v.RequestID)
	a.mu.Unlock()
	for _, ch := range chs {
		ch <- v // buffered, and each is handed one voucher at most
	}
}

// Waiting is how many reads wait now.
func (a *Arrivals) Waiting() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, chs := range a.waiting {
		n += len(chs)
	}
	return n
}

// MaxWait bounds Await, well inside the invocation timeout of gateway's call.
const MaxWait = 2 * time.Second

// recheck finds a voucher that another replica stored.
const recheck = 50 * time.Millisecond

// Await is ByRequest that waits up to wait for a voucher not stored yet.
// One stored here is handed over at once, with no read; one stored by
// another replica is found by a read every 50 ms.
func (a App) Await(ctx context.Context, requestID string, wait time.Duration) (domain.Voucher, error) {
	if wait > MaxWait {
		return domain.Voucher{}, errs.E(errs.Invalid, "wait must be at most %s", MaxWait)
	}
	if wait <= 0 || a.Arrivals == nil {
		return a.ByRequest(ctx, requestID)
	}
	// Watched before the first read, so a store in between is not missed.
	ch, stop := a.Arrivals.watch(requestID)
	defer stop()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(recheck)
	defer tick.Stop()
	for {
		v, found, err := a.Vouchers.Get(ctx, voucherKey(requestID))
		if err != nil {
			return domain.Voucher{}, err
		}
		if found {
			return v, nil
		}
		select {
		case v := <-ch:
			return v, nil
		case <-tick.C:
		case <-deadline.C:
			return domain.Voucher{}, noVoucher(requestID)
		case <-ctx.Done():
			return domain.Voucher{}, errs.Wrap(errs.Unavailable, ctx.Err(), "gave up waiting for the voucher")
		}
	}
}
