package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/api/vpsapi"
	"github.com/bankabc/vouchers/kit/testkit"
)

// TestRunWiresTheApp starts voucher-int's real wiring (run) beside a fake
// sidecar: a request-code delivered to it orders the voucher from the
// provider through the sidecar's service invocation, and the order's
// receive-code is published with the code (through the outbox: the
// record is written in the order's transaction).
func TestRunWiresTheApp(t *testing.T) {
	asked := make(chan string, 4)
	sidecarHTTP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked <- r.Method + " " + r.URL.Path
		var order struct {
			RequestID string `json:"requestId"`
		}
		_ = json.NewDecoder(r.Body).Decode(&order)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(vpsapi.OrderAnswer{RequestID: order.RequestID, Status: "SUCCESS", VoucherCode: "CODE-1"})
	}))
	t.Cleanup(sidecarHTTP.Close)
	u, _ := url.Parse(sidecarHTTP.URL)
	sidecar := testkit.StartSidecar(t, testkit.DaprToken)
	base := testkit.RunApp(t, run, sidecar, testkit.AppToken, map[string]string{"DAPR_HTTP_PORT": u.Port()})

	ev := events.RequestCode{RequestID: "r1", UserID: "u1", PhoneNumber: "+84909123450", RequestedAt: time.Now().UTC()}
	require.Equal(t, testkit.Delivered, testkit.Deliver(t, base, "/events/request-code", testkit.AppToken, events.TopicRequestCode, events.TypeRequestCode, ev))
	select {
	case got := <-asked:
		assert.Equal(t, "POST /v1.0/invoke/vps/method/api/request/voucher", got)
	case <-time.After(10 * time.Second):
		t.Fatal("the provider was not asked")
	}
	require.Eventually(t, func() bool { return len(sidecar.Mem.Events(events.TopicReceiveCode)) == 1 },
		10*time.Second, 20*time.Millisecond, "receive-code published")
	var out events.ReceiveCode
	require.NoError(t, json.Unmarshal(sidecar.Mem.Events(events.TopicReceiveCode)[0].Data, &out))
	assert.Equal(t, "r1", out.RequestID)
	assert.Equal(t, events.StatusSuccess, out.Status)
	assert.Equal(t, "CODE-1", out.VoucherCode)
}
