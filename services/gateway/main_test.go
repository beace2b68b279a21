package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/testkit"
)

// TestRunWiresTheApp runs gateway's real wiring beside a fake sidecar: a
// customer signs up, verifies, and buys. Internal routes stay off the
// public port.
func TestRunWiresTheApp(t *testing.T) {
	sidecar := testkit.StartSidecar(t, testkit.DaprToken)
	sidecar.Secrets["secretstore"] = map[string]map[string]string{
		"jwt-signing-key": {"jwt-signing-key": base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))},
		"jwt-key-id":      {"jwt-key-id": "test-key"},
	}
	public := testkit.FreePort(t)
	testkit.RunApp(t, run, sidecar, testkit.AppToken, map[string]string{"PUBLIC_PORT": public})
	api := "http://127.0.0.1:" + public

	call := func(method, path, token string, body any) (int, []byte) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, api+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	status, body := call("POST", "/user/sign-up", "", map[string]string{
		"username": "alice", "phoneNumber": "+84909123450", "password": "a long enough password"})
	require.Equal(t, http.StatusCreated, status, "sign-up: %s", body)
	var tok struct{ AccessToken string }
	require.NoError(t, json.Unmarshal(body, &tok))

	var code string
	require.Eventually(t, func() bool {
		for _, e := range sidecar.Mem.Events(events.TopicSendSMS) {
			if m := regexp.MustCompile(`\b\d{6}\b`).Find(e.Data); m != nil {
				code = string(m)
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the verification code texted")
	status, body = call("POST", "/user/phone/verify", tok.AccessToken, map[string]string{"code": code})
	require.Equal(t, http.StatusOK, status, "verify: %s", body)

	status, body = call("POST", "/voucher", tok.AccessToken, map[string]string{"phoneNumber": "+84909123450"})
	require.Equal(t, http.StatusAccepted, status, "purchase: %s", body)
	require.Eventually(t, func() bool { return len(sidecar.Mem.Events(events.TopicRequestCode)) == 1 },
		10*time.Second, 20*time.Millisecond, "request-code published")

	status, _ = call("POST", "/events/receive-code", "", map[string]string{})
	assert.Equal(t, http.StatusNotFound, status, "an internal route on the public port")
}
