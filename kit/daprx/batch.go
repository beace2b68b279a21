package daprx

import "sync"

// batcher is a group commit: one write per round under load, and no timer.
type batcher[T any] struct {
	mu      sync.Mutex
	pending []T
	running bool
	idle    *sync.Cond
	// round does one round's work.
	round func([]T)
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
