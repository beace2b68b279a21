// Package adapters holds the purchase context's outbound doors.
package adapters

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// SecretPrefix marks a Standard Webhooks signing secret.
const SecretPrefix = "whsec_"

// Sign returns the Standard Webhooks webhook-signature header value.
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return "", fmt.Errorf("webhook secret is not base64: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, timestamp)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Webhooks POSTs signed webhooks.
type Webhooks struct {
	HTTP *http.Client
	Now  func() time.Time
	// Log gets an unanswered attempt's raw reason. Customers see only
	// NoAnswer, because a connection error would make us a port scanner.
	Log *slog.Logger
}

// NoAnswer is all a customer learns of an attempt with no HTTP answer.
const NoAnswer = "no answer"

// Send makes one attempt. It follows no redirect, because the receiver
// must answer at the URL it gave.
func (w Webhooks) Send(ctx context.Context, url, id, secret string, body []byte) domain.WebhookResult {
	ts := w.Now().Unix()
	sig, err := Sign(secret, id, ts, body)
	if err != nil {
		return domain.WebhookResult{Err: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return domain.WebhookResult{Err: "bad callbackUrl"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bankabc-vouchers-webhooks/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := w.HTTP.Do(req)
	if err != nil {
		if w.Log != nil {
			w.Log.WarnContext(ctx, "webhook attempt got no answer", "webhook_id", id, "error", err)
		}
		return domain.WebhookResult{Err: NoAnswer}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return domain.WebhookResult{Delivered: true}
	}
	res := domain.WebhookResult{Err: fmt.Sprintf("answered %d", resp.StatusCode)}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		res.RetryAfter = time.Duration(s) * time.Second
	}
	return res
}

// NewWebhookClient bounds each attempt's time and follows no redirects.
func NewWebhookClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
