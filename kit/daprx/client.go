// Package daprx adapts the Dapr Go SDK to the shapes our services use: a
// typed state store with insert-once and ETag-checked updates, a topic handler
// adapter, and service invocation through the sidecar.
package daprx

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	dapr "github.com/dapr/go-sdk/client"
)

// Connect dials the sidecar's gRPC port (DAPR_GRPC_PORT), retrying until ctx
// ends: the app opens its own port first, and daprd may come up after it.
func Connect(ctx context.Context, log *slog.Logger, grpcPort string) (dapr.Client, error) {
	if grpcPort == "" {
		return nil, fmt.Errorf("DAPR_GRPC_PORT is not set: start the app beside a Dapr sidecar (make run)")
	}
	// The SDK's dial blocks for DAPR_CLIENT_TIMEOUT_SECONDS; keep each try short.
	if os.Getenv("DAPR_CLIENT_TIMEOUT_SECONDS") == "" {
		_ = os.Setenv("DAPR_CLIENT_TIMEOUT_SECONDS", "2")
	}
	for attempt := 1; ; attempt++ {
		c, err := dapr.NewClientWithAddressContext(ctx, "127.0.0.1:"+grpcPort)
		if err == nil {
			return c, nil
		}
		if attempt%5 == 0 {
			log.Warn("sidecar not reachable yet", "port", grpcPort, "attempt", attempt, "error", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to sidecar on %s: %w", grpcPort, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
