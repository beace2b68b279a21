package app

import "context"

// WebhookSecrets finds a customer's webhook secret; identity implements it.
type WebhookSecrets interface {
	WebhookSecret(ctx context.Context, username string) (secret string, found bool, err error)
}
