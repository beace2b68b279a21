package adapters

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// verify is what a receiver does, written from the Standard Webhooks text,
// not from Sign.
func verify(t *testing.T, secret string, r *http.Request, body []byte) bool {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(r.Header.Get("webhook-signature")))
}

func TestWebhookIsSignedAndRetryAfterRead(t *testing.T) {
	secret := newSecret()
	var verified bool
	status := 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verified = verify(t, secret, r, body) && r.Header.Get("webhook-id") == "msg_r1"
		ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		verified = verified && time.Since(time.Unix(ts, 0)) < time.Minute
		if status != 200 {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	w := Webhooks{HTTP: NewWebhookClient(time.Second), Now: time.Now}
	res := w.Send(context.Background(), srv.URL, "msg_r1", secret, []byte(`{"a":1}`))
	assert.True(t, res.Delivered, "result %+v", res)
	assert.True(t, verified, "signature verified")
	status = 503
	res = w.Send(context.Background(), srv.URL, "msg_r1", secret, []byte(`{"a":1}`))
	assert.False(t, res.Delivered, "result %+v", res)
	assert.Equal(t, 7*time.Second, res.RetryAfter, "result %+v", res)
	other := newSecret()
	sig, _ := Sign(other, "msg_r1", 1, []byte("x"))
	good, _ := Sign(secret, "msg_r1", 1, []byte("x"))
	assert.NotEqual(t, good, sig, "two secrets give one signature")
}

// TestWebhookWithoutAnswerTellsTheCustomerNothingMore: a refused port, a
// closed one and an address the guard refuses all read "no answer" in the
// delivery the customer sees; the raw reason goes to the log.
func TestWebhookWithoutAnswerTellsTheCustomerNothingMore(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close() // nothing listens there now: connection refused
	var logs bytes.Buffer
	guarded := Webhooks{HTTP: GuardedWebhookClient(time.Second, NetGuard{}), Now: time.Now, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	open := Webhooks{HTTP: NewWebhookClient(time.Second), Now: time.Now, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	for name, send := range map[string]func() string{
		"connection refused": func() string {
			return open.Send(context.Background(), closedURL, "msg_1", newSecret(), []byte(`{}`)).Err
		},
		"address refused by the guard": func() string {
			return guarded.Send(context.Background(), "http://127.0.0.1:9/hook", "msg_2", newSecret(), []byte(`{}`)).Err
		},
	} {
		assert.Equal(t, NoAnswer, send(), name)
	}
	assert.Contains(t, logs.String(), "refused", "the raw reasons are logged")
	assert.Contains(t, logs.String(), "msg_2", "the log names the webhook")
}

// newSecret is a secret as identity makes them.
func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}
