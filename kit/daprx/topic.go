package daprx

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/dapr/go-sdk/service/common"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/tracing"
)

// Envelope is the part of the CloudEvent that daprd delivers which handlers
// may care about; Data is decoded into the handler's type.
type Envelope struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Source      string          `json:"source"`
	Topic       string          `json:"topic"`
	PubsubName  string          `json:"pubsubname"`
	TraceParent string          `json:"traceparent"`
	TraceID     string          `json:"traceid"`
	Data        json.RawMessage `json:"data"`
}

// What a handler's outcome tells daprd.
const (
	statusSuccess = "SUCCESS"
	statusRetry   = "RETRY"
	statusDrop    = "DROP" // sent to the subscription's dead-letter topic
)

// TopicHandler adapts fn to go-sdk's topic event handler contract, the one
// kit/service registers every subscription route with (service/http). It
// decodes the event's data, recovers panics, logs with the event id, and
// decides retry or drop from the error's kind in one place:
//   - nil: SUCCESS;
//   - undecodable data, Invalid, Unprocessable, TooLarge: DROP (dead
//     letter): the same event would fail the same way again;
//   - anything else (Unavailable, Internal, a panic): RETRY.
//
// The handler works in the event's trace: the traceparent header daprd
// sends when its tracing is on, or else the CloudEvent's own traceparent
// (what the publisher put there), which the request then adopts.
func TopicHandler[T any](log *slog.Logger, fn func(ctx context.Context, ev Envelope, data T) error) common.TopicEventHandler {
	return func(ctx context.Context, e *common.TopicEvent) (retry bool, err error) {
		env := Envelope{ID: e.ID, Type: e.Type, Source: e.Source, Topic: e.Topic, PubsubName: e.PubsubName,
			TraceParent: e.TraceParent, TraceID: e.TraceID, Data: json.RawMessage(e.RawData)}
		status, err := handle(ctx, log, env, fn)
		switch status {
		case statusSuccess:
			return false, nil
		case statusRetry:
			return true, err
		default:
			return false, err
		}
	}
}

// handle runs fn for one event and says what daprd should do with it; the
// error is set for RETRY and DROP.
func handle[T any](ctx context.Context, log *slog.Logger, env Envelope, fn func(ctx context.Context, ev Envelope, data T) error) (string, error) {
	ctx, _ = tracing.Adopt(ctx, env.traceparent())
	data, err := decodeData[T](env.Data)
	if err != nil {
		log.ErrorContext(ctx, "event with undecodable data dropped", "event_id", env.ID, "topic", env.Topic, "error", err)
		return statusDrop, err
	}
	err = safeCall(func() error { return fn(ctx, env, data) })
	switch {
	case err == nil:
		log.DebugContext(ctx, "event handled", "event_id", env.ID, "topic", env.Topic, "type", env.Type)
		return statusSuccess, nil
	case permanent(err):
		log.ErrorContext(ctx, "event dropped to dead letter", "event_id", env.ID, "topic", env.Topic, "reason", err)
		return statusDrop, err
	default:
		log.WarnContext(ctx, "event will be retried", "event_id", env.ID, "topic", env.Topic, "error", err)
		return statusRetry, err
	}
}

// permanent tells the failures the same event would meet again, whatever
// the retry: the event itself is wrong. Everything else may pass on a
// retry, a lost ETag race (Conflict) among it, so it is retried: dropping
// it would dead-letter a good event.
func permanent(err error) bool {
	switch errs.KindOf(err) {
	case errs.Invalid, errs.Unprocessable, errs.TooLarge:
		return true
	}
	return false
}

// traceparent is the event's trace context: the traceparent attribute, or
// the older traceid one, which daprd fills with the same W3C value.
func (e Envelope) traceparent() string {
	if e.TraceParent != "" {
		return e.TraceParent
	}
	return e.TraceID
}

// decodeData accepts data as a JSON value or as a string holding JSON (how
// some publishers, the outbox among them, may carry it).
func decodeData[T any](raw json.RawMessage) (T, error) {
	var v T
	if len(raw) == 0 {
		return v, fmt.Errorf("event has no data")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return v, err
		}
		raw = json.RawMessage(s)
	}
	dec := json.NewDecoder(bytesReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&v)
	return v, err
}

func safeCall(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in event handler: %v", p)
		}
	}()
	return fn()
}
