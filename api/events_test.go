package api

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEventExamplesMatchTheirSchemas(t *testing.T) {
	for _, topic := range Topics {
		examples, err := Examples(topic.Name)
		require.NoError(t, err, topic.Name)
		require.NotEmpty(t, examples, "%s: no examples", topic.Name)
		for _, ex := range examples {
			assert.NoError(t, CheckEvent(topic.Name, ex), "%s example %s", topic.Name, ex)
		}
	}
}

func TestEventsBreakingTheirSchemaAreRefused(t *testing.T) {
	tests := []struct{ name, topic, data, want string }{
		{"missing_field", "request-code", `{"requestId":"r1","userId":"u1","requestedAt":"2026-11-21T10:00:00Z"}`, "phoneNumber"},
		{"unknown_field", "request-code", `{"requestId":"r1","userId":"u1","phoneNumber":"+84901234560","requestedAt":"2026-11-21T10:00:00Z","amount":5}`, "amount"},
		{"bad_time", "request-code", `{"requestId":"r1","userId":"u1","phoneNumber":"+84901234560","requestedAt":"yesterday"}`, "requestedAt"},
		{"phone_not_e164", "send-sms", `{"messageId":"m1","phoneNumber":"0901234560","text":"hi"}`, "phoneNumber"},
		{"success_without_code", "receive-code", `{"requestId":"r1","phoneNumber":"+84901234560","status":"SUCCESS","requestedAt":"2026-11-21T10:00:00Z","issuedAt":"2026-11-21T10:00:01Z"}`, "voucherCode"},
		{"failure_with_code", "receive-code", `{"requestId":"r1","phoneNumber":"+84901234560","status":"FAILED","reason":"x","voucherCode":"C","requestedAt":"2026-11-21T10:00:00Z","issuedAt":"2026-11-21T10:00:01Z"}`, ""},
		{"unknown_status", "receive-code", `{"requestId":"r1","phoneNumber":"+84901234560","status":"MAYBE","requestedAt":"2026-11-21T10:00:00Z","issuedAt":"2026-11-21T10:00:01Z"}`, "status"},
		{"unknown_topic", "refund", `{}`, "refund"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckEvent(tt.topic, []byte(tt.data))
			require.ErrorContains(t, err, tt.want)
			t.Log(err)
		})
	}
}
