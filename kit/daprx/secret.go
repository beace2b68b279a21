package daprx

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Secrets is the part of the Dapr client that reads the secret store.
type Secrets interface {
	GetSecret(ctx context.Context, store, key string, meta map[string]string) (map[string]string, error)
}

// Secret reads one secret, waiting out a sidecar that is not answering yet.
// `docker compose restart` restarts an app's daprd after the app has
// connected to it, so the first read can meet a closed connection.
// Any other error, a missing secret among them, returns at once.
func Secret(ctx context.Context, log *slog.Logger, c Secrets, store, name string) (string, error) {
	for attempt := 1; ; attempt++ {
		m, err := c.GetSecret(ctx, store, name, nil)
		if err == nil {
			return m[name], nil
		}
		if status.Code(err) != codes.Unavailable {
			return "", fmt.Errorf("secret %q from %s: %w", name, store, err)
		}
		if attempt%5 == 0 {
			log.Warn("sidecar not answering yet", "secret", name, "attempt", attempt, "error", err)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("secret %q from %s: %w", name, store, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
