package daprx

import (
	"sync"
	"time"
)

// batcher is a group commit: one write per round under load.
type batcher[T any] struct {
	mu      sync.Mutex
	pending []T
	running bool
	idle    *sync.Cond
	// round does one round's work.
	round func([]T)
	// linger, if set, gathers items that long before each round: for work
	// nobody waits on, so that a moderate load also shares its writes.
	linger time.Duration
}

func (b *batcher[T]) add(item T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = append(b.pending, item)
	if !b.running {
		b.running = true
		go b.loop()
	}
}

func (b *batcher[T]) loop() {
	for {
		if b.linger > 0 {
			time.Sleep(b.linger)
		}
		b.mu.Lock()
		items := b.pending
		b.pending = nil
		if len(items) == 0 {
			b.running = false
			if b.idle != nil {
				b.idle.Broadcast()
			}
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.round(items)
	}
}

func (b *batcher[T]) wait() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.idle == nil {
		b.idle = sync.NewCond(&b.mu)
	}
	for b.running {
		b.idle.Wait()
	}
}
