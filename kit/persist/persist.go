// Package persist is the store vocabulary of use cases, free of Dapr.
// kit/daprx implements it, so use cases do not depend on the Dapr SDK.
package persist

import (
	"context"
	"errors"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
)

// Event is published through the store's outbox once its write commits.
type Event struct {
	Topic string
	Data  any
	// Type is the CloudEvent type.
	Type string
}

// ErrExists means an insert found the key taken.
var ErrExists = errs.E(errs.Conflict, "already exists")

// ErrNoChange from an update's closure skips the write.
var ErrNoChange = errors.New("no change")

// SweepSummary counts what one sweep did.
type SweepSummary struct {
	Seconds, IDs int
	// Failed ids were scheduled again.
	Failed  int
	Reasons errs.Reasons
	// Held means another replica held the schedule.
	Held bool
}

// Keys maps ids to store keys, in order.
func Keys(ids []string, key func(id string) string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = key(id)
	}
	return out
}

// BulkReader reads several keys in one call. Missing keys are absent.
type BulkReader[T any] interface {
	GetMany(ctx context.Context, keys []string) (map[string]T, error)
}

// EachFound returns one error per id; a failed read fails every id.
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

// FailureCounter counts a sweep's failures by reason.
type FailureCounter interface {
	Failed(sweep string, reasons map[string]int)
}

// Schedule hands ids back after a delay, to one sweeper at a time.
type Schedule interface {
	Add(ctx context.Context, id string, after time.Duration) error
	SweepEach(ctx context.Context, fn func(ctx context.Context, ids []string) []error) (SweepSummary, error)
}
