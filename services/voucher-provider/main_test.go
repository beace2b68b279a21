package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/vpsapi"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/wiring"
)

// TestRunWiresTheFake starts the provider fake's real wiring (run) in late
// mode: an order is acknowledged with a code challenge, and the code comes
// later through the sidecar's service invocation to voucher-int's
// callback, with the sidecar's token and a verifier that hashes to the
// challenge; the orders answer only the fake's app token.
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
	base := testkit.RunApp(t, run, testkit.StartSidecar(t, testkit.DaprToken), testkit.AppToken, map[string]string{
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
	// The test controls take the fake's app token, as run gave it.
	resp, err = http.Get(base + "/api/orders")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the orders without the app token")

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

// TestTheFakeWithoutAnAppTokenRefusesToStart: like every app
// (service.AppToken), the fake will not start without APP_API_TOKEN, which
// guards its test controls (the orders with their code verifiers), unless
// ALLOW_NO_APP_TOKEN=true says so.
func TestTheFakeWithoutAnAppTokenRefusesToStart(t *testing.T) {
	err := run(context.Background(), testkit.Env(map[string]string{"APP_PORT": testkit.FreePort(t)}), io.Discard)
	require.Error(t, err, "started without a token")
	assert.ErrorContains(t, err, "APP_API_TOKEN")
	err = run(context.Background(), testkit.Env(map[string]string{"APP_PORT": testkit.FreePort(t), "APP_API_TOKEN": "short"}), io.Discard)
	assert.ErrorContains(t, err, "shorter than 16", "a short token")

	cfg, err := wiring.LoadConfig(testkit.Env(map[string]string{"ALLOW_NO_APP_TOKEN": "true"}))
	require.NoError(t, err, "ALLOW_NO_APP_TOKEN")
	assert.Empty(t, cfg.AppToken, "ALLOW_NO_APP_TOKEN")
	cfg, err = wiring.LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": testkit.AppToken}))
	require.NoError(t, err)
	assert.Equal(t, testkit.AppToken, cfg.AppToken)
}
