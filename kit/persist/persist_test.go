package persist

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

type mapReader struct {
	values map[string]int
	err    error
	calls  int
}

func (m *mapReader) GetMany(_ context.Context, keys []string) (map[string]int, error) {
	m.calls++
	if m.err != nil {
		return nil, m.err
	}
	out := map[string]int{}
	for _, k := range keys {
		if v, ok := m.values[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

func TestEachFound(t *testing.T) {
	key := func(id string) string { return "k|" + id }
	r := &mapReader{values: map[string]int{"k|a": 1, "k|c": 3}}
	var seen []string
	bad := errors.New("c failed")
	errs := EachFound(context.Background(), r, []string{"a", "b", "c"}, key, func(_ context.Context, id string, v int) error {
		seen = append(seen, id)
		if v == 3 {
			return bad
		}
		return nil
	})
	assert.Equal(t, 1, r.calls, "one read")
	assert.Equal(t, []string{"a", "c"}, seen, "only what was found, in order")
	assert.Equal(t, []error{nil, nil, bad}, errs, "fn's error per id, nil for one not found")

	down := errors.New("store down")
	errs = EachFound(context.Background(), &mapReader{err: down}, []string{"a", "b"}, key, func(context.Context, string, int) error {
		t.Fatal("fn called after a failed read")
		return nil
	})
	assert.Equal(t, []error{down, down}, errs, "the read's error for every id")
}
