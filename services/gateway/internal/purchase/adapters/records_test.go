package adapters

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// roundTrip decodes stored into R, goes to the domain value T and back,
// and encodes the record again.
func roundTrip[T, R any](t *testing.T, stored string, toDomain func(R) T, toRecord func(T) R) string {
	t.Helper()
	var rec R
	require.NoError(t, json.Unmarshal([]byte(stored), &rec))
	out, err := json.Marshal(toRecord(toDomain(rec)))
	require.NoError(t, err)
	return string(out)
}

// Records stored before the domain lost its JSON tags read the same and
// are written back byte for byte.
func TestStoredRecordsOfTheOldShapeReadAndWriteTheSame(t *testing.T) {
	requests, deliveries, counts, deadLetters := Requests(nil), Deliveries(nil), Counts(nil), DeadLetters(nil)
	cases := []struct {
		name, stored string
		roundTrip    func(t *testing.T, stored string) string
	}{
		{"request_finished", `{"requestId":"r1","userId":"u1","username":"alice","phoneNumber":"+84909123450","callbackUrl":"https://shop.example/hook","fingerprint":"ab12","status":"SUCCESS","state":1,"progress":100,"voucherCode":"CODE-1","createdAt":"2026-11-29T09:00:00Z","updatedAt":"2026-11-29T09:00:02Z","completedAt":"2026-11-29T09:00:02Z","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`,
			func(t *testing.T, s string) string { return roundTrip(t, s, requests.ToDomain, requests.ToRecord) }},
		{"request_processing", `{"requestId":"r2","userId":"u1","username":"alice","phoneNumber":"+84909123450","fingerprint":"cd34","status":"PROCESSING","state":0,"progress":0,"createdAt":"2026-11-29T09:00:00Z","updatedAt":"2026-11-29T09:00:00Z"}`,
			func(t *testing.T, s string) string { return roundTrip(t, s, requests.ToDomain, requests.ToRecord) }},
		{"delivery_webhook_pending", `{"requestId":"r1","username":"alice","phoneNumber":"+84909123450","channel":"webhook","status":"PENDING","callbackUrl":"https://shop.example/hook","webhookId":"msg_r1","body":{"type":"voucher.issued","data":{"state":1}},"attempts":2,"lastError":"HTTP 503","nextAttemptAt":"2026-11-29T09:01:00Z","claimedUntil":"0001-01-01T00:00:00Z","createdAt":"2026-11-29T09:00:02Z","updatedAt":"2026-11-29T09:00:40Z"}`,
			func(t *testing.T, s string) string { return roundTrip(t, s, deliveries.ToDomain, deliveries.ToRecord) }},
		{"delivery_fell_back", `{"requestId":"r1","username":"alice","phoneNumber":"+84909123450","channel":"sms","status":"SMS_SENT","attempts":5,"fellBack":true,"nextAttemptAt":"2026-11-29T09:01:00Z","claimedUntil":"0001-01-01T00:00:00Z","createdAt":"2026-11-29T09:00:02Z","updatedAt":"2026-11-29T09:05:00Z","deliveredAt":"2026-11-29T09:05:00Z"}`,
			func(t *testing.T, s string) string { return roundTrip(t, s, deliveries.ToDomain, deliveries.ToRecord) }},
		{"dead_letter", `{"id":"ev-1","topic":"receive-code","deadTopic":"receive-code-dead","data":{"requestId":"r1"},"receivedAt":"2026-11-29T09:00:00Z","replays":1,"replayedAt":"2026-11-29T09:10:00Z"}`,
			func(t *testing.T, s string) string {
				return roundTrip(t, s, deadLetters.ToDomain, deadLetters.ToRecord)
			}},
		{"count", `{"n":3}`,
			func(t *testing.T, s string) string { return roundTrip(t, s, counts.ToDomain, counts.ToRecord) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.stored, c.roundTrip(t, c.stored))
		})
	}
	var rec RequestRecord
	require.NoError(t, json.Unmarshal([]byte(cases[0].stored), &rec))
	req := requests.ToDomain(rec)
	assert.Equal(t, domain.StateSuccess, req.State, "state")
	assert.Equal(t, "CODE-1", req.VoucherCode, "code")
}

// Deliveries map field by field: every field must make the trip.
func TestADeliveryKeepsEveryFieldInItsRecord(t *testing.T) {
	at := time.Date(2026, 11, 29, 9, 0, 2, 0, time.UTC)
	d := domain.Delivery{RequestID: "r1", Username: "alice", PhoneNumber: "+84909123450", Channel: domain.ChannelWebhook,
		Status: domain.DeliveryPending, CallbackURL: "https://shop.example/hook", WebhookID: "msg_r1", Body: []byte(`{"type":"voucher.issued"}`),
		Attempts: 2, LastError: "answered 503", FellBack: true, NextAttemptAt: at.Add(time.Minute), ClaimedUntil: at.Add(2 * time.Minute),
		CreatedAt: at, UpdatedAt: at.Add(time.Second), DeliveredAt: &at}
	v := reflect.ValueOf(d)
	for i := range v.NumField() {
		require.False(t, v.Field(i).IsZero(), "%s is not set here, so not checked", v.Type().Field(i).Name)
	}
	m := Deliveries(nil)
	assert.Equal(t, d, m.ToDomain(m.ToRecord(d)))
}
