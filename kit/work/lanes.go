package work

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// Lanes refuses a job rather than queue it, so nobody waits behind one
// customer's slow jobs and goroutines do not pile up.
type Lanes struct {
	places  *semaphore.Weighted
	max     int64
	perKey  int
	timeout time.Duration

	mu      sync.Mutex
	running int
	byKey   map[string]int
}

// NewLanes gives each job timeout.
func NewLanes(max, perKey int, timeout time.Duration) *Lanes {
	return &Lanes{places: semaphore.NewWeighted(int64(max)), max: int64(max), perKey: perKey, timeout: timeout,
		byKey: map[string]int{}}
}

// Place is taken for one job; Go runs it, or Release gives it back.
type Place struct {
	l    *Lanes
	key  string
	once sync.Once
}

// Take takes a place for key if one is free.
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

// Release is idempotent.
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

// Go drops ctx's cancellation, because the pass that started the job ends first.
func (p *Place) Go(ctx context.Context, job func(context.Context)) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.l.timeout)
	go func() {
		defer p.Release()
		defer cancel()
		job(ctx)
	}()
}

// TryGo is Take, then Go.
func (l *Lanes) TryGo(ctx context.Context, key string, job func(context.Context)) bool {
	p, ok := l.Take(key)
	if ok {
		p.Go(ctx, job)
	}
	return ok
}

// Running counts running jobs, all and key's.
func (l *Lanes) Running(key string) (all, ofKey int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running, l.byKey[key]
}

// Idle waits until no job runs. Meanwhile Take finds no place.
func (l *Lanes) Idle() {
	_ = l.places.Acquire(context.Background(), l.max)
	l.places.Release(l.max)
}
