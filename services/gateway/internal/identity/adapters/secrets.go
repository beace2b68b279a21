package adapters

import (
	"crypto/rand"
	"encoding/base64"
)

// NewWebhookSecret returns a Standard Webhooks signing secret.
func NewWebhookSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}
