// Package persist holds the words the services' use cases speak to their
// stores in, free of Dapr: the event a write publishes, the answers of a
// first write and of an update that changes nothing, and what a sweep of a
// schedule did. kit/daprx implements the stores and schedules in these
// words (its names for them are aliases of these), so an app's use cases
// depend on this package and not on the Dapr SDK.
package persist

import (
	"context"
	"errors"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
)

// Event asks a write to publish Data to Topic once the write has committed
// (through the store's outbox).
type Event struct {
	Topic string
	Data  any
	// Type becomes the CloudEvent type of the published event.
	Type string
}

// ErrExists is returned by an insert when the key already holds a value.
var ErrExists = errs.E(errs.Conflict, "already exists")

// ErrNoChange, returned by an update's closure, ends the update without a
// write.
var ErrNoChange = errors.New("no change")

// SweepSummary counts what one sweep of a schedule did.
type SweepSummary struct {
	Seconds, IDs int
	// Failed counts the ids whose work failed; each was scheduled again
	// (and logged). Reasons counts them by reason (errs.Reason).
	Failed  int
	Reasons errs.Reasons
	// Held is true when another replica held the schedule: nothing was done.
	Held bool
}

// Keys is the store key of each id, in order (for a bulk read).
func Keys(ids []string, key func(id string) string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = key(id)
	}
	return out
}

// BulkReader reads several keys in one call; a key with no value is absent
// from the map.
type BulkReader[T any] interface {
	GetMany(ctx context.Context, keys []string) (map[string]T, error)
}

// EachFound reads what ids name (key(id)) in one bulk read and hands each
// value found to fn, in order. It returns one error per id: fn's, nil for
// an id with no value, or the read's error for every id when it failed.
func EachFound[T any](ctx context.Context, r BulkReader[T], ids []string, key func(id string) string,
	fn func(ctx context.Context, id string, v T) error) []error {
	out := make([]error, len(ids))
	keys := Keys(ids, key)
	got, err := r.GetMany(ctx, keys)
	for i, id := range ids {
		if err != nil {
			out[i] = err
			continue
		}
		if v, found := got[keys[i]]; found {
			out[i] = fn(ctx, id, v)
		}
	}
	return out
}

// FailureCounter counts the failures of one pass of a sweep, by reason
// (kit/metrics.Sweeps).
type FailureCounter interface {
	Failed(sweep string, reasons map[string]int)
}

// Schedule looks at ids again after a delay, in time buckets a cron sweeps,
// one sweeper at a time across replicas (kit/daprx.Schedule). SweepEach
// hands fn the ids of one second at a time; fn returns one error (or nil)
// per id, and an id whose work failed is looked at again later.
type Schedule interface {
	Add(ctx context.Context, id string, after time.Duration) error
	SweepEach(ctx context.Context, fn func(ctx context.Context, ids []string) []error) (SweepSummary, error)
}
