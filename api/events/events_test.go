package events

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api"
)

// topics pairs each topic of this package with its Go payload type.
var topics = []struct {
	name, ceType string
	payload      func() any // a pointer to a zero payload
	full         any        // a payload with every field set, as a producer fills it
}{
	{TopicRequestCode, TypeRequestCode, func() any { return new(RequestCode) },
		RequestCode{RequestID: "r1", UserID: "u1", PhoneNumber: "+84909123456", RequestedAt: time.Now()}},
	{TopicReceiveCode, TypeReceiveCode, func() any { return new(ReceiveCode) },
		ReceiveCode{RequestID: "r1", PhoneNumber: "+84909123456", Status: StatusLateSuccess, VoucherCode: "C-1",
			RequestedAt: time.Now(), IssuedAt: time.Now()}},
	{TopicSendSMS, TypeSendSMS, func() any { return new(SendSMS) },
		SendSMS{MessageID: "m1", PhoneNumber: "+84909123456", Text: "your code"}},
}

// TestTopicsAreTheContractsTopics: the names and CloudEvent types the Go code
// uses are the ones api/events documents, and every documented topic has a
// Go payload.
func TestTopicsAreTheContractsTopics(t *testing.T) {
	assert.Len(t, topics, len(api.Topics), "topics here, as many as in api/events")
	for _, tp := range topics {
		c, ok := api.TopicOf(tp.name)
		assert.True(t, ok, "topic %s: not in api/events", tp.name)
		assert.Equal(t, tp.ceType, c.Type, "topic %s: api/events has %+v", tp.name, c)
	}
}

// TestProducersPayloadsMatchTheSchemas: what a producer marshals is valid.
// (Each service's unit tests check the events it really publishes: the
// test state store refuses an outbox event its schema refuses.)
func TestProducersPayloadsMatchTheSchemas(t *testing.T) {
	for _, tp := range topics {
		b, err := json.Marshal(tp.full)
		require.NoError(t, err)
		assert.NoError(t, api.CheckEvent(tp.name, b), tp.name)
	}
	failed := ReceiveCode{RequestID: "r1", PhoneNumber: "+84909123456", Status: StatusFailed, Reason: "deadline",
		RequestedAt: time.Now(), IssuedAt: time.Now()}
	b, _ := json.Marshal(failed)
	assert.NoError(t, api.CheckEvent(TopicReceiveCode, b), "failed outcome")
}

// TestConsumersReadEverySchemaExample: each example of a schema decodes
// into the Go payload with no unknown field, and back to the same JSON.
func TestConsumersReadEverySchemaExample(t *testing.T) {
	for _, tp := range topics {
		examples, err := api.Examples(tp.name)
		require.NoError(t, err, "%s: no examples", tp.name)
		require.NotEmpty(t, examples, "%s: no examples", tp.name)
		for _, ex := range examples {
			v := tp.payload()
			dec := json.NewDecoder(bytes.NewReader(ex))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(v), "%s: example %s", tp.name, ex)
			back, _ := json.Marshal(v)
			var want, got any
			_ = json.Unmarshal(ex, &want)
			_ = json.Unmarshal(back, &got)
			assert.Equal(t, normalizeTimes(want), normalizeTimes(got), "%s: example %s read back as %s", tp.name, ex, back)
		}
	}
}

// normalizeTimes parses RFC 3339 strings, so 10:00:00.120Z and
// 10:00:00.12Z compare equal.
func normalizeTimes(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for k, x := range m {
		if s, ok := x.(string); ok {
			if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
				m[k] = ts.UTC()
			}
		}
	}
	return m
}
