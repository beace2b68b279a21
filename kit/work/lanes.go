package work

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// Lanes runs jobs in the background, at most Max at once and at most
// PerKey of one key (one customer) at once. A job that finds no place is
// not run: the caller leaves it for later, so that nobody waits behind
// one customer's slow jobs, and no goroutines pile up.
type Lanes struct {
	places  *semaphore.Weighted
	max     int64
	perKey  int
	timeout time.Duration

	mu      sync.Mutex
	running int
	byKey   map[string]int
}

// NewLanes is max places, perKey of them for one key at most, whose jobs
// each get timeout.
func NewLanes(max, perKey int, timeout time.Duration) *Lanes {
	return &Lanes{places: semaphore.NewWeighted(int64(max)), max: int64(max), perKey: perKey, timeout: timeout,
		byKey: map[string]int{}}
}

// Place is a place taken for one job of a key; Go runs the job in it, or
// Release gives it back unused.
type Place struct {
	l    *Lanes
	key  string
	once sync.Once
}

// Take takes a place for key, if one is free and key has fewer than
// PerKey jobs running.
func (l *Lanes) Take(key string) (*Place, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byKey[key] >= l.perKey || !l.places.TryAcquire(1) {
		return nil, false
	}
	l.running++
	l.byKey[key]++
	return &Place{l: l, key: key}, true
}

// Release gives the place back; a second call does nothing.
func (p *Place) Release() {
	p.once.Do(func() {
		l := p.l
		l.mu.Lock()
		l.running--
		if l.byKey[p.key]--; l.byKey[p.key] <= 0 {
			delete(l.byKey, p.key)
		}
		l.mu.Unlock()
		l.places.Release(1)
	})
}

// Go runs job in the place, in the background, with ctx's values but not
// its cancellation (the pass that started it ends first), and gives the
// place back when it ends.
func (p *Place) Go(ctx context.Context, job func(context.Context)) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.l.timeout)
	go func() {
		defer p.Release()
		defer cancel()
		job(ctx)
	}()
}

// TryGo runs job for key in the background if a place is free: Take, then
// Go.
func (l *Lanes) TryGo(ctx context.Context, key string, job func(context.Context)) bool {
	p, ok := l.Take(key)
	if ok {
		p.Go(ctx, job)
	}
	return ok
}

// Running is how many jobs run now, and how many of them are key's.
func (l *Lanes) Running(key string) (all, ofKey int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running, l.byKey[key]
}

// Idle waits until no job runs (tests, and a graceful stop). While it
// waits, Take finds no place.
func (l *Lanes) Idle() {
	_ = l.places.Acquire(context.Background(), l.max)
	l.places.Release(l.max)
}
