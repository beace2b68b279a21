// Package testkit holds helpers for the tests of every module.
package testkit

import (
	"context"
	"fmt"
	"sync"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bankabc/vouchers/api"
)

// MemState is an in-memory Dapr state client with ETags and first-write semantics, like
// the real components.
type MemState struct {
	mu   sync.Mutex
	data map[string][]byte
	tags map[string]int
	// Txns records every committed transaction, for assertions on the outbox.
	Txns [][]*dapr.StateOperation
	// SkipEventChecks turns off the schema check of outbox events, for
	// benchmarks that measure the code under test alone.
	SkipEventChecks bool
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

func (m *MemState) set(it *dapr.SetStateItem) error {
	_, exists := m.data[it.Key]
	switch {
	case it.Etag != nil && (!exists || string(rune('0'+m.tags[it.Key])) != it.Etag.Value):
		return status.Error(codes.Aborted, "possible etag mismatch")
	case it.Etag == nil && exists && it.Options != nil && it.Options.Concurrency == dapr.StateConcurrencyFirstWrite:
		return status.Error(codes.Aborted, "possible etag mismatch")
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
	if !m.SkipEventChecks {
		if err := checkOutboxEvent(ops); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.set(ops[0].Item); err != nil {
		// daprd reports a conflict inside a transaction this way.
		return status.Error(codes.Internal, "error while executing state transaction: possible etag mismatch. error from state store")
	}
	// Only committed transactions: daprd drops the outbox message of a
	// transaction that failed.
	m.Txns = append(m.Txns, ops)
	return nil
}

// checkOutboxEvent holds every event a test publishes through the outbox to
// its topic's JSON Schema (api/events), so each producer's unit tests are
// contract tests too. The CloudEvent type on the first operation names the
// topic; the projection, last, is the event's data.
func checkOutboxEvent(ops []*dapr.StateOperation) error {
	last := ops[len(ops)-1].Item
	ceType := ops[0].Item.Metadata["type"]
	if ceType == "" || last.Metadata["outbox.projection"] != "true" {
		return nil
	}
	for _, t := range api.Topics {
		if t.Type == ceType {
			return api.CheckEvent(t.Name, last.Value)
		}
	}
	return fmt.Errorf("outbox event of type %q, which no topic of api/events has", ceType)
}

// Len is the number of keys stored.
func (m *MemState) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.data)
}
