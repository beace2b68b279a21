package daprx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
)

// StateClient is what a Store needs of the Dapr client.
type StateClient interface {
	GetState(ctx context.Context, storeName, key string, meta map[string]string) (*dapr.StateItem, error)
	GetBulkState(ctx context.Context, storeName string, keys []string, meta map[string]string, parallelism int32) ([]*dapr.BulkStateItem, error)
	SaveBulkState(ctx context.Context, storeName string, items ...*dapr.SetStateItem) error
	ExecuteStateTransaction(ctx context.Context, storeName string, meta map[string]string, ops []*dapr.StateOperation) error
}

// ErrExists is returned by Insert when the key already holds a value.
var ErrExists = persist.ErrExists

// ErrNoChange, returned by an Update closure, ends the update without a write.
var ErrNoChange = persist.ErrNoChange

// Store is a typed view of one Dapr state store. Values are JSON.
type Store[T any] struct {
	Client StateClient
	Name   string
	// TTL, if set, applies to every write.
	TTL time.Duration
	// Outbox, if nil, makes a write with an event fail.
	Outbox *Outbox
}

// Event is published through the Outbox once its write commits.
type Event = persist.Event

// Get reads key.
func (s Store[T]) Get(ctx context.Context, key string) (v T, found bool, err error) {
	v, _, found, err = s.versioned(ctx, key)
	return v, found, err
}

func (s Store[T]) versioned(ctx context.Context, key string) (v T, etag string, found bool, err error) {
	item, err := s.Client.GetState(ctx, s.Name, key, nil)
	if err != nil {
		return v, "", false, errs.Wrap(errs.Unavailable, err, "state store unavailable")
	}
	if item == nil || len(item.Value) == 0 {
		return v, "", false, nil
	}
	if err := json.Unmarshal(item.Value, &v); err != nil {
		return v, "", false, fmt.Errorf("decode %s/%s: %w", s.Name, key, err)
	}
	return v, item.Etag, true, nil
}

// GetMany reads keys in one call. Missing keys are absent from the map.
func (s Store[T]) GetMany(ctx context.Context, keys []string) (map[string]T, error) {
	out := make(map[string]T, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	items, err := s.Client.GetBulkState(ctx, s.Name, keys, nil, bulkParallelism)
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "state store unavailable")
	}
	for _, item := range items {
		if item == nil {
			continue
		}
		if item.Error != "" {
			return nil, errs.E(errs.Unavailable, "state store unavailable: %s/%s: %s", s.Name, item.Key, item.Error)
		}
		if len(item.Value) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(item.Value, &v); err != nil {
			return nil, fmt.Errorf("decode %s/%s: %w", s.Name, item.Key, err)
		}
		out[item.Key] = v
	}
	return out, nil
}

// bulkParallelism bounds the sidecar's reads on a component without bulk reads.
const bulkParallelism = 16

// Insert writes v only if key is empty, else returns ErrExists. ev may be nil.
func (s Store[T]) Insert(ctx context.Context, key string, v T, ev *Event) error {
	return s.write(ctx, key, v, nil, ev, nil)
}

// InsertAfter runs before beside the outbox's schedule entry, so the two
// group-committed waits overlap instead of adding up.
func (s Store[T]) InsertAfter(ctx context.Context, key string, v T, ev *Event, before func(context.Context) error) error {
	return s.write(ctx, key, v, nil, ev, before)
}

// Update is read-modify-write under the ETag, retrying fn on a conflict.
func (s Store[T]) Update(ctx context.Context, key string, fn func(v *T, exists bool) (*Event, error)) (T, error) {
	const maxAttempts = 20
	for attempt := 0; ; attempt++ {
		cur, etag, found, err := s.versioned(ctx, key)
		if err != nil {
			return cur, err
		}
		ev, err := fn(&cur, found)
		if errors.Is(err, ErrNoChange) {
			return cur, nil
		}
		if err != nil {
			return cur, err
		}
		var tag *string
		if found {
			tag = &etag
		}
		err = s.write(ctx, key, cur, tag, ev, nil)
		if err == nil {
			return cur, nil
		}
		if !errors.Is(err, ErrExists) {
			return cur, err
		}
		if attempt == maxAttempts {
			// Too many writers on one key: "try again", still an ErrExists.
			return cur, errs.Wrap(errs.Unavailable, err, "too many changes to the same record at once: try again")
		}
		select {
		case <-ctx.Done():
			return cur, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
}

func (s Store[T]) item(key string, v T, etag *string) (*dapr.SetStateItem, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s/%s: %w", s.Name, key, err)
	}
	// With a contentType some stores need a JSON module (docs/deploy.md).
	item := &dapr.SetStateItem{Key: key, Value: b, Metadata: map[string]string{}}
	if s.TTL > 0 {
		item.Metadata["ttlInSeconds"] = strconv.Itoa(int(s.TTL.Seconds()))
	}
	if etag != nil {
		item.Etag = &dapr.ETag{Value: *etag}
	}
	item.Options = &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite}
	return item, nil
}

// write with a nil etag only inserts.
func (s Store[T]) write(ctx context.Context, key string, v T, etag *string, ev *Event, before func(context.Context) error) error {
	item, err := s.item(key, v, etag)
	if err != nil {
		return err
	}
	if ev == nil {
		if before != nil {
			if err := before(ctx); err != nil {
				return err
			}
		}
		err = s.Client.SaveBulkState(ctx, s.Name, item)
	} else {
		var rec OutboxRecord
		if rec, err = s.outboxRecord(ctx, ev); err != nil {
			return err
		}
		if err = both(ctx, before, func(ctx context.Context) error { return s.Outbox.intend(ctx, rec) }); err != nil {
			return err
		}
		var recItem *dapr.SetStateItem
		if recItem, err = s.Outbox.Records.item(outboxKey(rec.ID), rec, nil); err != nil {
			return err
		}
		err = s.Client.ExecuteStateTransaction(ctx, s.Name, nil, []*dapr.StateOperation{
			{Type: dapr.StateOperationTypeUpsert, Item: item},
			{Type: dapr.StateOperationTypeUpsert, Item: recItem},
		})
		if err == nil {
			s.Outbox.sent(ctx, rec)
			return nil
		}
		// Some stores are not all-or-nothing (docs/deploy.md), so a lost race
		// may have kept a record. After other errors it may have committed.
		if isETagMismatch(err) {
			s.Outbox.remove(rec.ID)
		}
	}
	if err == nil {
		return nil
	}
	if isETagMismatch(err) {
		return ErrExists
	}
	// Some stores report a lost first write as a plain error.
	if etag == nil {
		if _, found, gerr := s.Get(ctx, key); gerr == nil && found {
			return ErrExists
		}
	}
	return errs.Wrap(errs.Unavailable, err, "state store unavailable")
}

func both(ctx context.Context, a, b func(context.Context) error) error {
	if a == nil {
		return b(ctx)
	}
	aerr := make(chan error, 1)
	go func() { aerr <- a(ctx) }()
	berr := b(ctx)
	if err := <-aerr; err != nil {
		return err
	}
	return berr
}

func (s Store[T]) outboxRecord(ctx context.Context, ev *Event) (OutboxRecord, error) {
	if s.Outbox == nil || s.Outbox.Records.Name != s.Name {
		return OutboxRecord{}, fmt.Errorf("a write to %s with a %s event needs the outbox of %s", s.Name, ev.Topic, s.Name)
	}
	return s.Outbox.record(ctx, ev)
}

// isETagMismatch: daprd answers Aborted for single writes, Internal in a transaction.
func isETagMismatch(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	return st.Code() == codes.Aborted || strings.Contains(strings.ToLower(st.Message()), "etag mismatch")
}
