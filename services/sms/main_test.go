package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/testkit"
)

const (
	appToken  = "app-token-of-the-test-0123456789"
	daprToken = "dapr-token-of-the-test-012345678"
)

// TestRunWiresTheApp starts sms's real wiring (run) beside a fake sidecar:
// a send-sms delivered to it goes out through the output binding once,
// even when delivered twice, gateway's confirmation finds it sent, and a
// call without the app token is refused.
func TestRunWiresTheApp(t *testing.T) {
	sidecar := testkit.StartSidecar(t, daprToken)
	base := testkit.RunApp(t, run, sidecar, appToken, map[string]string{"SMS_BINDING": "sms"})

	m := events.SendSMS{MessageID: "voucher-r1", PhoneNumber: "+84909123450", Text: "Your voucher code: CODE-1"}
	for range 2 {
		require.Equal(t, http.StatusOK, testkit.Deliver(t, base, "/events/send-sms", appToken, events.TopicSendSMS, events.TypeSendSMS, m))
	}
	assert.Equal(t, http.StatusUnauthorized, testkit.Deliver(t, base, "/events/send-sms", "wrong", events.TopicSendSMS, events.TypeSendSMS, m))
	sent := sidecar.Bindings()
	require.Len(t, sent, 1, "sent once: %+v", sent)
	assert.Equal(t, "sms", sent[0].Name)
	assert.Equal(t, "+84909123450", sent[0].Metadata["toNumber"])
	assert.Equal(t, m.Text, string(sent[0].Data))

	req, _ := http.NewRequest(http.MethodGet, base+"/sent/voucher-r1", nil)
	req.Header.Set("dapr-api-token", appToken)
	req.Header.Set("dapr-caller-app-id", "gateway")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "gateway's confirmation")
}
