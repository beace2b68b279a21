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

// Envelope is the part of a CloudEvent handlers may care about.
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

// TopicHandler is the one place that decides retry or drop, from the
// error's kind. Without daprd's traceparent, the CloudEvent's trace is used.
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

// permanent errors do not include Conflict, or good events would be dead-lettered.
func permanent(err error) bool {
	switch errs.KindOf(err) {
	case errs.Invalid, errs.Unprocessable, errs.TooLarge:
		return true
	}
	return false
}

// traceparent falls back on the older traceid, which holds the same value.
func (e Envelope) traceparent() string {
	if e.TraceParent != "" {
		return e.TraceParent
	}
	return e.TraceID
}

// decodeData also accepts a string holding JSON, as the outbox may send it.
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
