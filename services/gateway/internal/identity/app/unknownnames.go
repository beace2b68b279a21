package app

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
)

// MemStrikes keeps strikes of unknown usernames in memory. In the store they
// cost two writes a try, and made-up names could grow it without end.
type MemStrikes struct {
	Max  int
	Idle time.Duration
	Now  func() time.Time

	mu   sync.Mutex
	recs map[string]memStrike
}

type memStrike struct {
	st      domain.Strikes
	changed time.Time
}

// NewMemStrikes holds at most max records, each idle at most idle.
func NewMemStrikes(max int, idle time.Duration, now func() time.Time) *MemStrikes {
	return &MemStrikes{Max: max, Idle: idle, Now: now, recs: map[string]memStrike{}}
}

// Len is how many records are held.
func (m *MemStrikes) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs)
}

func (m *MemStrikes) get(key string, now time.Time) (domain.Strikes, bool) {
	r, ok := m.recs[key]
	if !ok || now.Sub(r.changed) > m.Idle {
		return domain.Strikes{}, false
	}
	return r.st, true
}

// Get reads key's strikes.
func (m *MemStrikes) Get(_ context.Context, key string) (domain.Strikes, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.get(key, m.Now())
	return st, ok, nil
}

// GetMany reads keys' strikes.
func (m *MemStrikes) GetMany(ctx context.Context, keys []string) (map[string]domain.Strikes, error) {
	out := map[string]domain.Strikes{}
	for _, k := range keys {
		if st, ok, _ := m.Get(ctx, k); ok {
			out[k] = st
		}
	}
	return out, nil
}

// Insert writes v unless key holds strikes.
func (m *MemStrikes) Insert(ctx context.Context, key string, v domain.Strikes, _ *persist.Event) error {
	_, err := m.Update(ctx, key, func(cur *domain.Strikes, exists bool) (*persist.Event, error) {
		if exists {
			return nil, persist.ErrExists
		}
		*cur = v
		return nil, nil
	})
	return err
}

// InsertAfter is Insert once before succeeded.
func (m *MemStrikes) InsertAfter(ctx context.Context, key string, v domain.Strikes, ev *persist.Event, before func(context.Context) error) error {
	if before != nil {
		if err := before(ctx); err != nil {
			return err
		}
	}
	return m.Insert(ctx, key, v, ev)
}

// Update changes key's strikes with fn, under the store's lock.
func (m *MemStrikes) Update(_ context.Context, key string, fn func(*domain.Strikes, bool) (*persist.Event, error)) (domain.Strikes, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.Now()
	cur, exists := m.get(key, now)
	if _, err := fn(&cur, exists); errors.Is(err, persist.ErrNoChange) {
		return cur, nil
	} else if err != nil {
		return cur, err
	}
	if cur.Failures == 0 && cur.Locks == 0 && cur.LockedUntil.IsZero() && len(cur.Pending) == 0 {
		delete(m.recs, key) // nothing left to remember
		return cur, nil
	}
	if _, held := m.recs[key]; !held && len(m.recs) >= m.Max {
		m.makeRoom(now)
	}
	m.recs[key] = memStrike{st: cur, changed: now}
	return cur, nil
}

// makeRoom drops idle records, then a random sixteenth of the rest, so a
// flood of names pays for the sweep once in many records.
func (m *MemStrikes) makeRoom(now time.Time) {
	for k, r := range m.recs {
		if now.Sub(r.changed) > m.Idle {
			delete(m.recs, k)
		}
	}
	for k := range m.recs {
		if len(m.recs) < m.Max-m.Max/16 {
			break
		}
		delete(m.recs, k)
	}
}

// Pace makes an unknown name's steps as slow as a known name's, which the
// store writes would otherwise tell apart. A nil *Pace waits nothing.
type Pace struct {
	mu    sync.Mutex
	steps map[string]*[paceSamples]time.Duration
	n     map[string]int
}

const paceSamples = 64

// NewPace is a Pace with no durations yet.
func NewPace() *Pace {
	return &Pace{steps: map[string]*[paceSamples]time.Duration{}, n: map[string]int{}}
}

// Took records how long step took for a known username.
func (p *Pace) Took(step string, d time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.steps[step]
	if s == nil {
		s = new([paceSamples]time.Duration)
		p.steps[step] = s
	}
	s[p.n[step]%paceSamples] = d
	p.n[step]++
}

// Wait waits as long as step took once lately, less the time since start.
func (p *Pace) Wait(ctx context.Context, step string, start time.Time) {
	if p == nil {
		return
	}
	p.mu.Lock()
	var d time.Duration
	if s, n := p.steps[step], min(p.n[step], paceSamples); n > 0 {
		d = s[rand.IntN(n)]
	}
	p.mu.Unlock()
	t := time.NewTimer(d - time.Since(start))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
