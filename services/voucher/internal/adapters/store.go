package adapters

import (
	"context"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/persist"
)

// MappedStore keeps domain values D in a state store as records R, so the
// domain carries no JSON tags and the stored shape is decided here.
type MappedStore[D, R any] struct {
	store      daprx.Store[R]
	toRecord   func(D) R
	fromRecord func(R) D
}

func (s MappedStore[D, R]) Get(ctx context.Context, key string) (D, bool, error) {
	r, found, err := s.store.Get(ctx, key)
	return s.fromRecord(r), found, err
}

func (s MappedStore[D, R]) GetMany(ctx context.Context, keys []string) (map[string]D, error) {
	got, err := s.store.GetMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]D, len(got))
	for k, r := range got {
		out[k] = s.fromRecord(r)
	}
	return out, nil
}

func (s MappedStore[D, R]) Insert(ctx context.Context, key string, v D, ev *persist.Event) error {
	return s.store.Insert(ctx, key, s.toRecord(v), ev)
}

func (s MappedStore[D, R]) Update(ctx context.Context, key string, fn func(*D, bool) (*persist.Event, error)) (D, error) {
	r, err := s.store.Update(ctx, key, func(r *R, exists bool) (*persist.Event, error) {
		v := s.fromRecord(*r)
		ev, err := fn(&v, exists)
		if err == nil {
			*r = s.toRecord(v)
		}
		return ev, err
	})
	return s.fromRecord(r), err
}
