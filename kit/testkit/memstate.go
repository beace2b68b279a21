// Package testkit holds helpers for the tests of every module.
package testkit

import (
	"context"
	"fmt"
	"sync"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bankabc/vouchers/api"
)

// MemState has ETags and first-write semantics, like the real components.
type MemState struct {
	mu   sync.Mutex
	data map[string][]byte
	tags map[string]int
	// Txns records committed transactions, for outbox assertions.
	Txns [][]*dapr.StateOperation
	// Published records published events.
	Published []Published
	// PublishErr, if set, fails every publish, like a broker that is down.
	PublishErr error
	// SkipEventChecks lets benchmarks measure the code under test alone.
	SkipEventChecks bool
}

// Published is one published event.
type Published struct {
	Topic string
	Data  []byte
	// Meta holds the cloudevent.* overrides (type, id, traceparent).
	Meta map[string]string
}

func NewMemState() *MemState {
	return &MemState{data: map[string][]byte{}, tags: map[string]int{}}
}

func (m *MemState) GetState(_ context.Context, _, key string, _ map[string]string) (*dapr.StateItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[key]
	if !ok {
		return &dapr.StateItem{Key: key}, nil
	}
	return &dapr.StateItem{Key: key, Value: v, Etag: string(rune('0' + m.tags[key]))}, nil
}

func (m *MemState) GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, _ int32) ([]*dapr.BulkStateItem, error) {
	out := make([]*dapr.BulkStateItem, 0, len(keys))
	for _, k := range keys {
		it, _ := m.GetState(ctx, store, k, meta)
		out = append(out, &dapr.BulkStateItem{Key: k, Value: it.Value, Etag: it.Etag})
	}
	return out, nil
}

func (m *MemState) check(it *dapr.SetStateItem) error {
	_, exists := m.data[it.Key]
	switch {
	case it.Etag != nil && (!exists || string(rune('0'+m.tags[it.Key])) != it.Etag.Value):
		return status.Error(codes.Aborted, "possible etag mismatch")
	case it.Etag == nil && exists && it.Options != nil && it.Options.Concurrency == dapr.StateConcurrencyFirstWrite:
		return status.Error(codes.Aborted, "possible etag mismatch")
	}
	return nil
}

func (m *MemState) set(it *dapr.SetStateItem) error {
	if err := m.check(it); err != nil {
		return err
	}
	m.data[it.Key] = it.Value
	m.tags[it.Key]++
	return nil
}

func (m *MemState) SaveBulkState(_ context.Context, _ string, items ...*dapr.SetStateItem) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, it := range items {
		if err := m.set(it); err != nil {
			return err
		}
	}
	return nil
}

func (m *MemState) ExecuteStateTransaction(_ context.Context, _ string, _ map[string]string, ops []*dapr.StateOperation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// All or nothing, as the real stores: check every write, then apply.
	for _, op := range ops {
		if op.Type == dapr.StateOperationTypeUpsert {
			if err := m.check(op.Item); err != nil {
				// daprd reports a conflict inside a transaction this way.
				return status.Error(codes.Internal, "error while executing state transaction: possible etag mismatch. error from state store")
			}
		}
	}
	for _, op := range ops {
		switch op.Type {
		case dapr.StateOperationTypeUpsert:
			_ = m.set(op.Item)
		case dapr.StateOperationTypeDelete:
			delete(m.data, op.Item.Key)
		}
	}
	m.Txns = append(m.Txns, ops)
	return nil
}

func (m *MemState) DeleteBulkState(_ context.Context, _ string, keys []string, _ map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.data, k)
	}
	return nil
}

// PublishEvent checks the event against its JSON Schema, so each producer's
// unit tests are contract tests too.
func (m *MemState) PublishEvent(_ context.Context, _, topic string, data interface{}, opts ...dapr.PublishEventOption) error {
	b, ok := data.([]byte)
	if !ok {
		return fmt.Errorf("publish to %s: data is %T, want encoded JSON", topic, data)
	}
	req := &runtimev1.PublishEventRequest{}
	for _, o := range opts {
		o(req)
	}
	if !m.SkipEventChecks {
		if err := checkEvent(topic, req.GetMetadata()["cloudevent.type"], b); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.PublishErr != nil {
		return m.PublishErr
	}
	m.Published = append(m.Published, Published{Topic: topic, Data: b, Meta: req.GetMetadata()})
	return nil
}

// Events lists topic's events in order.
func (m *MemState) Events(topic string) []Published {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Published
	for _, p := range m.Published {
		if p.Topic == topic {
			out = append(out, p)
		}
	}
	return out
}

// Has reports whether key holds a value.
func (m *MemState) Has(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.data[key]
	return ok
}

// checkEvent skips topics outside api/events; dead letters are checked elsewhere.
func checkEvent(topic, ceType string, data []byte) error {
	for _, t := range api.Topics {
		if t.Name == topic {
			if ceType != t.Type {
				return fmt.Errorf("event on %s of type %q, want %q", topic, ceType, t.Type)
			}
			return api.CheckEvent(t.Name, data)
		}
	}
	return nil
}

// Len counts the keys.
func (m *MemState) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.data)
}
