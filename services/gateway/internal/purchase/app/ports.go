package app

import (
	"context"

	"github.com/bankabc/vouchers/kit/persist"
)

// Store is a typed state store view (daprx.Store satisfies it).
type Store[T any] interface {
	Get(ctx context.Context, key string) (T, bool, error)
	// GetMany reads keys in one call; a key with no value is absent.
	GetMany(ctx context.Context, keys []string) (map[string]T, error)
	Insert(ctx context.Context, key string, v T, ev *persist.Event) error
	// InsertAfter is Insert once before succeeded, before running
	// alongside the outbox's preparation of ev.
	InsertAfter(ctx context.Context, key string, v T, ev *persist.Event, before func(context.Context) error) error
	Update(ctx context.Context, key string, fn func(*T, bool) (*persist.Event, error)) (T, error)
}

// WebhookSecrets finds the secret a customer's webhooks are signed with.
// The identity context owns accounts and implements it.
type WebhookSecrets interface {
	// WebhookSecret: found is false once the account is gone.
	WebhookSecret(ctx context.Context, username string) (secret string, found bool, err error)
}
