package testkit

import (
	"context"
	"fmt"

	dapr "github.com/dapr/go-sdk/client"
)

// Stores gives each store name its own MemState, as each component is its
// own database.
type Stores struct {
	ByName map[string]*MemState
	Bus    *MemState
}

func (s Stores) store(name string) (*MemState, error) {
	m, ok := s.ByName[name]
	if !ok {
		return nil, fmt.Errorf("state store %s is not configured", name)
	}
	return m, nil
}

func (s Stores) GetState(ctx context.Context, store, key string, meta map[string]string) (*dapr.StateItem, error) {
	m, err := s.store(store)
	if err != nil {
		return nil, err
	}
	return m.GetState(ctx, store, key, meta)
}

func (s Stores) GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, parallelism int32) ([]*dapr.BulkStateItem, error) {
	m, err := s.store(store)
	if err != nil {
		return nil, err
	}
	return m.GetBulkState(ctx, store, keys, meta, parallelism)
}

func (s Stores) SaveBulkState(ctx context.Context, store string, items ...*dapr.SetStateItem) error {
	m, err := s.store(store)
	if err != nil {
		return err
	}
	return m.SaveBulkState(ctx, store, items...)
}

func (s Stores) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	m, err := s.store(store)
	if err != nil {
		return err
	}
	return m.ExecuteStateTransaction(ctx, store, meta, ops)
}

func (s Stores) DeleteBulkState(ctx context.Context, store string, keys []string, meta map[string]string) error {
	m, err := s.store(store)
	if err != nil {
		return err
	}
	return m.DeleteBulkState(ctx, store, keys, meta)
}

func (s Stores) PublishEvent(ctx context.Context, pubsub, topic string, data interface{}, opts ...dapr.PublishEventOption) error {
	return s.Bus.PublishEvent(ctx, pubsub, topic, data, opts...)
}
