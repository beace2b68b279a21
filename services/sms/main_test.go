package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/testkit"
)

// TestRunWiresTheApp starts sms's real wiring (run) beside a fake sidecar:
// a send-sms delivered to it goes out through the output binding once,
// even when delivered twice, gateway's confirmation finds it sent, and a
// call without the app token is refused.
func TestRunWiresTheApp(t *testing.T) {
	sidecar := testkit.StartSidecar(t, testkit.DaprToken)
	base := testkit.RunApp(t, run, sidecar, testkit.AppToken, map[string]string{"SMS_BINDING": "sms"})

	m := events.SendSMS{MessageID: "voucher-r1", PhoneNumber: "+84909123450", Text: "Your voucher code: CODE-1"}
	for range 2 {
		require.Equal(t, testkit.Delivered, testkit.Deliver(t, base, "/events/send-sms", testkit.AppToken, events.TopicSendSMS, events.TypeSendSMS, m))
	}
	assert.Equal(t, http.StatusUnauthorized, testkit.Deliver(t, base, "/events/send-sms", "wrong", events.TopicSendSMS, events.TypeSendSMS, m).Code)
	sent := sidecar.Bindings()
	require.Len(t, sent, 1, "sent once: %+v", sent)
	assert.Equal(t, "sms", sent[0].Name)
	assert.Equal(t, "+84909123450", sent[0].Metadata["toNumber"])
	assert.Equal(t, m.Text, string(sent[0].Data))

	req, _ := http.NewRequest(http.MethodGet, base+"/sent/voucher-r1", nil)
	req.Header.Set("dapr-api-token", testkit.AppToken)
	req.Header.Set("dapr-caller-app-id", "gateway")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "gateway's confirmation")
}
