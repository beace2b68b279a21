package daprx

import (
	"context"
	"fmt"
	"log/slog"

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
	var m map[string]string
	err := untilUp(ctx, log, "sidecar not answering yet", func() (bool, error) {
		var err error
		m, err = c.GetSecret(ctx, store, name, nil)
		return status.Code(err) == codes.Unavailable, err
	}, "secret", name)
	if err != nil {
		return "", fmt.Errorf("secret %q from %s: %w", name, store, err)
	}
	return m[name], nil
}
