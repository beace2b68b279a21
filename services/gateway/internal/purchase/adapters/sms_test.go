package adapters

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
)

func smsRecord(t *testing.T, m events.SendSMS) daprx.OutboxRecord {
	t.Helper()
	data, err := json.Marshal(m)
	require.NoError(t, err)
	return daprx.OutboxRecord{ID: "e1", Topic: events.TopicSendSMS, Type: events.TypeSendSMS, Data: data, CreatedAt: time.Now()}
}

func TestSMSConfirmerAsksSMSWhetherTheMessageWasSent(t *testing.T) {
	var asked []string
	sent := map[string]bool{"voucher-r1": true}
	status := 0 // 0: answer from sent
	// The sidecar, answering for sms what it forwards to /sent/{id}.
	mux := http.NewServeMux()
	mux.HandleFunc("/v1.0/invoke/sms/method/sent/{id}", func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.Method+" "+r.URL.EscapedPath())
		switch {
		case status != 0:
			w.WriteHeader(status)
		case r.Method == http.MethodGet && sent[r.PathValue("id")]:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"messageId":"voucher-r1","sentAt":"2026-03-01T12:00:00Z"}`))
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
		}
	})
	sidecar := httptest.NewServer(mux)
	defer sidecar.Close()
	c := SMSConfirmer{Invoker: daprx.Invoker{SidecarURL: sidecar.URL, HTTP: sidecar.Client()}, AppID: "sms"}
	ctx := context.Background()

	ok, err := c.Confirmed(ctx, smsRecord(t, events.SendSMS{MessageID: "voucher-r1", PhoneNumber: "+84909123456", Text: "x"}))
	require.NoError(t, err, "sent message")
	assert.True(t, ok, "sent message")
	ok, err = c.Confirmed(ctx, smsRecord(t, events.SendSMS{MessageID: "phone-code-u/1 2", PhoneNumber: "+84909123456", Text: "x"}))
	require.NoError(t, err, "message not sent")
	assert.False(t, ok, "message not sent")
	want := []string{"GET /v1.0/invoke/sms/method/sent/voucher-r1", "GET /v1.0/invoke/sms/method/sent/phone-code-u%2F1%202"}
	assert.Equal(t, want, asked, "asked")

	for _, s := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusBadRequest, http.StatusForbidden} {
		status = s
		ok, err := c.Confirmed(ctx, smsRecord(t, events.SendSMS{MessageID: "voucher-r1"}))
		assert.Equal(t, errs.Unavailable, errs.KindOf(err), "sms answered %d: %v", s, err)
		assert.False(t, ok, "sms answered %d", s)
	}
}

func TestSMSConfirmerRefusesARecordWithoutMessageID(t *testing.T) {
	var calls int
	sidecar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { calls++ }))
	defer sidecar.Close()
	c := SMSConfirmer{Invoker: daprx.Invoker{SidecarURL: sidecar.URL, HTTP: sidecar.Client()}, AppID: "sms"}
	for name, data := range map[string]json.RawMessage{
		"no messageId":    json.RawMessage(`{"phoneNumber":"+84909123456","text":"x"}`),
		"empty messageId": json.RawMessage(`{"messageId":"","text":"x"}`),
		"not an object":   json.RawMessage(`"voucher-r1"`),
		"no data":         nil,
	} {
		ok, err := c.Confirmed(context.Background(), daprx.OutboxRecord{ID: "e1", Topic: events.TopicSendSMS, Data: data})
		assert.Equal(t, errs.Invalid, errs.KindOf(err), "%s: %v", name, err)
		assert.False(t, ok, name)
	}
	assert.Zero(t, calls, "times sms was asked")
}

func TestSMSConfirmerReportsAnUnreachableSidecar(t *testing.T) {
	sidecar := httptest.NewServer(http.NotFoundHandler())
	sidecar.Close()
	c := SMSConfirmer{Invoker: daprx.Invoker{SidecarURL: sidecar.URL}, AppID: "sms"}
	ok, err := c.Confirmed(context.Background(), smsRecord(t, events.SendSMS{MessageID: "voucher-r1"}))
	assert.Equal(t, errs.Unavailable, errs.KindOf(err), "%v", err)
	assert.False(t, ok)
}
