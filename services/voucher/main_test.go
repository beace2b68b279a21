package main

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/testkit"
)

// TestRunWiresTheApp starts voucher's real wiring (run) beside a fake
// sidecar: a receive-code delivered to it is stored, gateway's listing
// finds it, a call without the app token is refused, and run returns when
// its context ends.
func TestRunWiresTheApp(t *testing.T) {
	sidecar := testkit.StartSidecar(t, testkit.DaprToken)
	base := testkit.RunApp(t, run, sidecar, testkit.AppToken, nil)

	now := time.Now().UTC()
	ev := events.ReceiveCode{RequestID: "r1", PhoneNumber: "+84909123450", Status: events.StatusSuccess,
		VoucherCode: "CODE-1", RequestedAt: now, IssuedAt: now}
	require.Equal(t, testkit.Delivered, testkit.Deliver(t, base, "/events/receive-code", testkit.AppToken,
		events.TopicReceiveCode, events.TypeReceiveCode, ev))
	assert.Equal(t, http.StatusUnauthorized, testkit.Deliver(t, base, "/events/receive-code", "wrong",
		events.TopicReceiveCode, events.TypeReceiveCode, ev).Code, "without the app token")

	req, _ := http.NewRequest(http.MethodGet, base+"/vouchers?phoneNumber=%2B84909123450", nil)
	req.Header.Set("dapr-api-token", testkit.AppToken)
	req.Header.Set("dapr-caller-app-id", "gateway")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var list struct {
		Vouchers []struct {
			RequestID   string `json:"requestId"`
			VoucherCode string `json:"voucherCode"`
		} `json:"vouchers"`
	}
	require.NoError(t, json.Unmarshal(body, &list), "%s", body)
	require.Len(t, list.Vouchers, 1, "%s", body)
	assert.Equal(t, "CODE-1", list.Vouchers[0].VoucherCode)
}
