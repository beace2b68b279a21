package daprx

import (
	"context"
	"encoding/json"
	"fmt"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/tracing"
)

// EventPublisher is the part of the Dapr client a Publisher needs.
type EventPublisher interface {
	PublishEvent(ctx context.Context, pubsubName, topicName string, data interface{}, opts ...dapr.PublishEventOption) error
}

// Publisher publishes an event straight to a topic: the outbox's publishes,
// and re-sends of events whose state is already stored. The CloudEvent gets
// ceType as its type.
type Publisher struct {
	Client EventPublisher
	PubSub string
	// Key gives an event its ordering key (the pub/sub component's
	// partitionKey) from its data; nil means events.OrderingKey, the
	// phone number every event of ours carries. A broker that partitions
	// its topics keeps the events of one key in one partition, in order;
	// the others ignore it.
	Key func(data []byte) string
}

// Publish sends data as JSON to topic.
func (p Publisher) Publish(ctx context.Context, topic, ceType string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", topic, err)
	}
	return p.PublishRaw(ctx, topic, ceType, "", b)
}

// PublishRaw sends data, already JSON, to topic; a non-empty id becomes the
// CloudEvent's id (the outbox's record id, the same on every re-send).
func (p Publisher) PublishRaw(ctx context.Context, topic, ceType, id string, data []byte) error {
	// cloudevent.* metadata overrides the envelope's attributes. The trace
	// goes in the envelope whatever daprd's tracing: with tracing off daprd
	// would put none there, and the subscriber reads it back (Topic).
	meta := map[string]string{}
	if ceType != "" {
		meta["cloudevent.type"] = ceType
	}
	if id != "" {
		meta["cloudevent.id"] = id
	}
	if tp := tracing.Traceparent(ctx); tp != "" {
		meta["cloudevent.traceparent"] = tp
	}
	key := p.Key
	if key == nil {
		key = events.OrderingKey
	}
	if k := key(data); k != "" {
		meta["partitionKey"] = k
	}
	opts := []dapr.PublishEventOption{dapr.PublishEventWithContentType("application/json")}
	if len(meta) > 0 {
		opts = append(opts, dapr.PublishEventWithMetadata(meta))
	}
	if err := p.Client.PublishEvent(ctx, p.PubSub, topic, data, opts...); err != nil {
		return errs.Wrap(errs.Unavailable, err, "pub/sub unavailable")
	}
	return nil
}
