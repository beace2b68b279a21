package daprx

import "sync"

// batcher is a group commit: items added while one round of work is on its
// way wait together for the next round, so under load there is one write
// per round, not per item, and nothing waits for a timer.
type batcher[T any] struct {
	mu      sync.Mutex
	pending []T
	running bool
	idle    *sync.Cond
	// round does the work of one round's items.
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

// wait returns once no round is on its way and nothing is pending.
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
