package adapters

import (
	"context"

	dapr "github.com/dapr/go-sdk/client"
)

// Publisher publishes raw JSON to the pub/sub component.
type Publisher struct {
	Client dapr.Client
	PubSub string
}

// Publish sends data as a JSON CloudEvent to topic.
func (p Publisher) Publish(ctx context.Context, topic string, data []byte) error {
	return p.Client.PublishEvent(ctx, p.PubSub, topic, data, dapr.PublishEventWithContentType("application/json"))
}
