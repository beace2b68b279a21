package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/bankabc/vouchers/tools/runner"
)

// TestEventsGoThroughKafkaUnderThePhoneNumber reads the kafka profile's
// broker as any Kafka client would: one purchase's request-code,
// receive-code and send-sms are records of CloudEvents there, each keyed
// by the customer's phone number, so one customer's events sit in one
// partition and are handled in the order they were published. The broker
// refuses a client without the sidecars' password.
func TestEventsGoThroughKafkaUnderThePhoneNumber(t *testing.T) {
	if sys.KafkaBrokers() == "" {
		t.Skip("reads the kafka profile's broker; on " + profile() + " there is none")
	}
	c := newClient(t)
	phone := uniquePhone(0)
	c.signUp(uniqueName("kafka"), phone)
	id := c.waitFinal(c.buy(phone, "")).RequestID

	t.Run("a_client_without_the_password_is_refused", func(t *testing.T) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(sys.KafkaBrokers()),
			kgo.SASL(scram.Auth{User: runner.KafkaUser, Pass: "not-the-password"}.AsSha512Mechanism()))
		require.NoError(t, err)
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		assert.Error(t, cl.Ping(ctx), "the broker took a wrong password")
	})

	cl, err := kgo.NewClient(kgo.SeedBrokers(sys.KafkaBrokers()),
		kgo.SASL(scram.Auth{User: runner.KafkaUser, Pass: sys.KafkaPassword()}.AsSha512Mechanism()),
		kgo.ConsumeTopics("request-code", "receive-code", "send-sms"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()

	// Every record until this purchase's three events have been seen (a
	// sign-up's text goes to send-sms too; the purchase's text only when
	// there is no webhook, as here). Other tests publish events of their
	// own through a sidecar (no key, some undecodable on purpose): only
	// this customer's records, all published by the apps, are checked.
	mine := map[string][]int32{} // topic: partitions of this customer's records
	found := map[string]bool{}
	deadline := time.Now().Add(2 * time.Minute)
	for !(found["request-code"] && found["receive-code"] && found["send-sms"]) && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			data := eventData(r.Value)
			if data.PhoneNumber != phone {
				return
			}
			assert.NoError(t, checkCloudEvent(r.Topic, r.Value), "%s record %d/%d: %s", r.Topic, r.Partition, r.Offset, r.Value)
			assert.Equal(t, phone, string(r.Key), "%s record %d/%d: key", r.Topic, r.Partition, r.Offset)
			mine[r.Topic] = append(mine[r.Topic], r.Partition)
			if data.RequestID == id || r.Topic == "send-sms" {
				found[r.Topic] = true
			}
		})
	}
	require.True(t, found["request-code"] && found["receive-code"] && found["send-sms"], "this purchase's events on the broker: %v", found)
	for topic, parts := range mine {
		for _, p := range parts {
			assert.Equal(t, parts[0], p, "%s: one customer's records in partitions %v", topic, parts)
		}
	}
}

// eventData is what an event's data says of its request and phone; empty
// for a record that is no event of ours.
func eventData(raw []byte) (data struct {
	RequestID   string `json:"requestId"`
	PhoneNumber string `json:"phoneNumber"`
}) {
	var ce struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(raw, &ce) != nil {
		return data
	}
	b := []byte(ce.Data)
	var s string
	if json.Unmarshal(ce.Data, &s) == nil { // data carried as a string holding JSON
		b = []byte(s)
	}
	_ = json.Unmarshal(b, &data)
	return data
}
