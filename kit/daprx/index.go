package daprx

import (
	"context"
	"fmt"
	"slices"
)

// IndexShard is the value of one key of an Index.
type IndexShard struct {
	IDs []string `json:"ids"`
}

// Index spreads a set over a few keys, so writers rarely contend on one ETag.
type Index struct {
	Store  Store[IndexShard]
	Name   string
	Shards int
}

func (ix Index) shardKey(i int) string { return fmt.Sprintf("index|%s|%d", ix.Name, i) }

func (ix Index) shardOf(id string) int {
	return int(fnv32(id) % uint32(max(ix.Shards, 1)))
}

// Add is idempotent.
func (ix Index) Add(ctx context.Context, id string) error {
	_, err := ix.Store.Update(ctx, ix.shardKey(ix.shardOf(id)), func(s *IndexShard, _ bool) (*Event, error) {
		if slices.Contains(s.IDs, id) {
			return nil, ErrNoChange
		}
		s.IDs = append(s.IDs, id)
		return nil, nil
	})
	return err
}

// Remove is idempotent.
func (ix Index) Remove(ctx context.Context, id string) error {
	_, err := ix.Store.Update(ctx, ix.shardKey(ix.shardOf(id)), func(s *IndexShard, _ bool) (*Event, error) {
		i := slices.Index(s.IDs, id)
		if i < 0 {
			return nil, ErrNoChange
		}
		s.IDs = slices.Delete(s.IDs, i, i+1)
		return nil, nil
	})
	return err
}

// All lists the set.
func (ix Index) All(ctx context.Context) ([]string, error) {
	var out []string
	for i := range max(ix.Shards, 1) {
		s, _, err := ix.Store.Get(ctx, ix.shardKey(i))
		if err != nil {
			return nil, err
		}
		out = append(out, s.IDs...)
	}
	return out, nil
}
