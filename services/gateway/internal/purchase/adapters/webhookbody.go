package adapters

import (
	"encoding/json"
	"time"

	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// webhookBody is WebhookPayload in api/openapi.yaml.
type webhookBody struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      webhookData `json:"data"`
}

type webhookData struct {
	RequestID   string `json:"requestId"`
	Status      string `json:"status"`
	State       int    `json:"state"`
	PhoneNumber string `json:"phoneNumber"`
	VoucherCode string `json:"voucherCode"`
	Message     string `json:"message"`
}

const webhookType = "voucher.issued"

// WebhookJSON writes webhooks as JSON bodies and reads stored ones back.
type WebhookJSON struct{}

// Encode uses json.Marshal, HTML escaping included. Receivers check
// signatures over these bytes, so they must not change.
func (WebhookJSON) Encode(w domain.Webhook) ([]byte, error) {
	return json.Marshal(webhookBody{Type: webhookType, Timestamp: w.At, Data: webhookData{
		RequestID: w.RequestID, Status: string(w.Status), State: int(w.State), PhoneNumber: w.PhoneNumber,
		VoucherCode: w.VoucherCode, Message: w.Message}})
}

// Decode reads a body Encode wrote, now or in an earlier release.
func (WebhookJSON) Decode(body []byte) (domain.Webhook, error) {
	var b webhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		return domain.Webhook{}, err
	}
	return domain.Webhook{RequestID: b.Data.RequestID, Status: domain.RequestStatus(b.Data.Status),
		State: domain.RequestState(b.Data.State), PhoneNumber: b.Data.PhoneNumber,
		VoucherCode: b.Data.VoucherCode, Message: b.Data.Message, At: b.Timestamp}, nil
}
