package persist

import "context"

// A Mapped store stores records and hands out domain values, so the domain
// carries no JSON tags.

// Store is a typed state store; daprx.Store satisfies it.
type Store[T any] interface {
	Get(ctx context.Context, key string) (T, bool, error)
	GetMany(ctx context.Context, keys []string) (map[string]T, error)
	Insert(ctx context.Context, key string, v T, ev *Event) error
	InsertAfter(ctx context.Context, key string, v T, ev *Event, before func(context.Context) error) error
	Update(ctx context.Context, key string, fn func(*T, bool) (*Event, error)) (T, error)
}

// Mapped stores records R as domain values T.
type Mapped[T, R any] struct {
	Records  Store[R]
	ToRecord func(T) R
	ToDomain func(R) T
}

func (m Mapped[T, R]) Get(ctx context.Context, key string) (T, bool, error) {
	r, found, err := m.Records.Get(ctx, key)
	return m.ToDomain(r), found, err
}

func (m Mapped[T, R]) GetMany(ctx context.Context, keys []string) (map[string]T, error) {
	rs, err := m.Records.GetMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]T, len(rs))
	for k, r := range rs {
		out[k] = m.ToDomain(r)
	}
	return out, nil
}

func (m Mapped[T, R]) Insert(ctx context.Context, key string, v T, ev *Event) error {
	return m.Records.Insert(ctx, key, m.ToRecord(v), ev)
}

func (m Mapped[T, R]) InsertAfter(ctx context.Context, key string, v T, ev *Event, before func(context.Context) error) error {
	return m.Records.InsertAfter(ctx, key, m.ToRecord(v), ev, before)
}

// Update writes the record only when fn succeeds.
func (m Mapped[T, R]) Update(ctx context.Context, key string, fn func(*T, bool) (*Event, error)) (T, error) {
	r, err := m.Records.Update(ctx, key, func(r *R, exists bool) (*Event, error) {
		v := m.ToDomain(*r)
		ev, err := fn(&v, exists)
		if err == nil {
			*r = m.ToRecord(v)
		}
		return ev, err
	})
	return m.ToDomain(r), err
}
