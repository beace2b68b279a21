package api

import (
	"strings"
	"testing"
)

func TestEventExamplesMatchTheirSchemas(t *testing.T) {
	for _, topic := range Topics {
		examples, err := Examples(topic.Name)
		if err != nil || len(examples) == 0 {
			t.Fatalf("%s: %d examples (%v)", topic.Name, len(examples), err)
		}
		for _, ex := range examples {
			if err := CheckEvent(topic.Name, ex); err != nil {
				t.Errorf("%s example %s: %v", topic.Name, ex, err)
			}
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
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
			t.Log(err)
		})
	}
}
