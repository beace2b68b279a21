package app

import (
	"context"

	"github.com/bankabc/vouchers/kit/persist"
)

// Store is a typed state store view.
type Store[T any] interface {
	Get(ctx context.Context, key string) (T, bool, error)
	GetMany(ctx context.Context, keys []string) (map[string]T, error)
	Insert(ctx context.Context, key string, v T, ev *persist.Event) error
	InsertAfter(ctx context.Context, key string, v T, ev *persist.Event, before func(context.Context) error) error
	Update(ctx context.Context, key string, fn func(*T, bool) (*persist.Event, error)) (T, error)
}

// WebhookSecrets finds a customer's webhook secret; identity implements it.
type WebhookSecrets interface {
	WebhookSecret(ctx context.Context, username string) (secret string, found bool, err error)
}
