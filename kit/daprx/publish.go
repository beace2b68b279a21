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

// EventPublisher is what a Publisher needs of the Dapr client.
type EventPublisher interface {
	PublishEvent(ctx context.Context, pubsubName, topicName string, data interface{}, opts ...dapr.PublishEventOption) error
}

// Publisher publishes straight to a topic, for the outbox and for re-sends.
type Publisher struct {
	Client EventPublisher
	PubSub string
	// Key gives the partitionKey, which keeps one phone's events in order.
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

// PublishRaw sends JSON data. A non-empty id stays the same on every re-send.
func (p Publisher) PublishRaw(ctx context.Context, topic, ceType, id string, data []byte) error {
	// With daprd's tracing off, the subscriber reads the trace from here.
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
