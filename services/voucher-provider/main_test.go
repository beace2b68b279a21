package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/kit/vpsapi"
)

// TestRunWiresTheFake starts the provider fake's real wiring (run) in late
// mode: an order is acknowledged with a code challenge, and the code comes
// later through the sidecar's service invocation to voucher-int's
// callback, with the sidecar's token and a verifier that hashes to the
// challenge.
func TestRunWiresTheFake(t *testing.T) {
	callbacks := make(chan *http.Request, 1)
	bodies := make(chan vpsapi.Callback, 1)
	sidecarHTTP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cb vpsapi.Callback
		_ = json.NewDecoder(r.Body).Decode(&cb)
		callbacks <- r
		bodies <- cb
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(sidecarHTTP.Close)
	u, _ := url.Parse(sidecarHTTP.URL)
	base := testkit.RunApp(t, run, testkit.StartSidecar(t, testkit.DaprToken), "", map[string]string{
		"DAPR_HTTP_PORT": u.Port(), "PROVIDER_MODE": "late", "ACK_AFTER": "10ms", "LATE_CALLBACK_AFTER": "100ms",
	})

	resp, err := http.Post(base+"/api/request/voucher", "application/json",
		strings.NewReader(`{"requestId":"r1","phoneNumber":"+84909123456"}`))
	require.NoError(t, err)
	var ack vpsapi.OrderAnswer
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ack))
	_ = resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%+v", ack)
	require.NotEmpty(t, ack.CodeChallenge, "acknowledged with a challenge: %+v", ack)
	assert.Empty(t, ack.VoucherCode, "no code yet: %+v", ack)

	select {
	case r := <-callbacks:
		cb := <-bodies
		assert.Equal(t, "/v1.0/invoke/voucher-int/method/api/voucher-code/vps/response", r.URL.Path)
		assert.Equal(t, testkit.DaprToken, r.Header.Get("dapr-api-token"))
		assert.Equal(t, "r1", cb.RequestID)
		assert.NotEmpty(t, cb.VoucherCode)
		sum := sha256.Sum256([]byte(cb.CodeVerifier))
		assert.Equal(t, ack.CodeChallenge, base64.RawURLEncoding.EncodeToString(sum[:]), "the verifier answers the challenge")
	case <-time.After(10 * time.Second):
		t.Fatal("no callback through the sidecar")
	}
}
