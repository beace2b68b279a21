package runner

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// RabbitMQ drops a message published to an exchange that no queue is bound
// to yet, and daprd declares its queues only when it subscribes, a moment
// after it reports healthy. The first events of a new vhost (a sign-up's
// SMS right after start-up) were lost that way. So on a RabbitMQ profile
// the runner waits, before it calls the system up, until the queue of every
// subscription exists with a consumer: the component names them
// "<consumerID>-<topic>", and our consumerID is the app id.

// subscribedQueues lists the queues the rendered resources make daprd
// subscribe with: one per app and subscribed topic (Subscriptions, by
// scope).
func subscribedQueues(docs []renderedDoc) []string {
	set := map[string]bool{}
	for _, d := range docs {
		if d.res.Kind != "Subscription" {
			continue
		}
		for _, app := range d.res.Scopes {
			set[app+"-"+d.res.Spec.Topic] = true
		}
	}
	out := make([]string, 0, len(set))
	for q := range set {
		out = append(out, q)
	}
	sort.Strings(out)
	return out
}

// rabbitURL is the connection string of the profile's RabbitMQ pub/sub
// component, if it has one.
func rabbitURL(docs []renderedDoc) string {
	for _, d := range docs {
		if d.res.Kind == "Component" && d.res.Spec.Type == "pubsub.rabbitmq" {
			for _, m := range d.res.Spec.Metadata {
				if m.Name == "connectionString" {
					return fmt.Sprint(m.Value)
				}
			}
		}
	}
	return ""
}

// waitForQueues polls until every queue exists and has a consumer.
func waitForQueues(ctx context.Context, uri string, queues []string) error {
	conn, err := amqp.Dial(uri)
	if err != nil {
		u, _ := url.Parse(uri)
		host := uri
		if u != nil {
			host = u.Host
		}
		return fmt.Errorf("rabbitmq at %s: %w", host, err)
	}
	defer conn.Close()
	pending := append([]string(nil), queues...)
	for {
		var still []string
		for _, q := range pending {
			ch, err := conn.Channel()
			if err != nil {
				return err
			}
			// Passive: fails (and closes the channel) if the queue is missing.
			info, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
			if err != nil || info.Consumers == 0 {
				still = append(still, q)
			}
			if err == nil {
				ch.Close()
			}
		}
		if len(still) == 0 {
			return nil
		}
		pending = still
		select {
		case <-ctx.Done():
			return fmt.Errorf("these RabbitMQ queues have no consumer yet: %s", strings.Join(still, ", "))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
