// Package daprx adapts the Dapr Go SDK to the shapes our services use.
package daprx

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/bankabc/vouchers/kit/tracing"
)

// TokenHeader carries DAPR_API_TOKEN to daprd and APP_API_TOKEN to the app.
const TokenHeader = "dapr-api-token"

// Connect retries until ctx ends, because daprd may come up after the app.
func Connect(ctx context.Context, log *slog.Logger, grpcPort string) (dapr.Client, error) {
	if grpcPort == "" {
		return nil, fmt.Errorf("DAPR_GRPC_PORT is not set: start the app beside a Dapr sidecar (make run)")
	}
	var conn *grpc.ClientConn
	err := untilUp(ctx, log, "sidecar not reachable yet", func() (bool, error) {
		var err error
		conn, err = dial(ctx, "127.0.0.1:"+grpcPort)
		return err != nil, err
	}, "port", grpcPort)
	if err != nil {
		return nil, fmt.Errorf("connect to sidecar on %s: %w", grpcPort, err)
	}
	return dapr.NewClientWithConnection(conn), nil
}

// untilUp calls try every 250 ms while it says to try again, warning every
// fifth time, and returns try's last error once it stops or ctx ends.
func untilUp(ctx context.Context, log *slog.Logger, warning string, try func() (again bool, err error), attrs ...any) error {
	for attempt := 1; ; attempt++ {
		again, err := try()
		if !again {
			return err
		}
		if attempt%5 == 0 {
			log.Warn(warning, append(attrs, "attempt", attempt, "error", err)...)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// dial is the SDK's dial, which takes no options, with our interceptors.
func dial(ctx context.Context, addr string) (*grpc.ClientConn, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// A blocking dial tells "sidecar not up yet" at once; grpc.NewClient cannot block.
	//lint:ignore SA1019 the SDK's own dial blocks the same way
	block := grpc.WithBlock()
	//lint:ignore SA1019 the SDK's own dial blocks the same way
	return grpc.DialContext(ctx, addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		block,
		grpc.WithUnaryInterceptor(unaryMetadata(os.Getenv("DAPR_API_TOKEN"))),
		grpc.WithStreamInterceptor(streamMetadata(os.Getenv("DAPR_API_TOKEN"))),
	)
}

// outgoing adds the traceparent, which daprd continues when its tracing is on.
func outgoing(ctx context.Context, token string) context.Context {
	var kv []string
	if tp := tracing.Traceparent(ctx); tp != "" {
		kv = append(kv, tracing.Header, tp)
	}
	if token != "" {
		kv = append(kv, TokenHeader, token)
	}
	if len(kv) == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

func unaryMetadata(token string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(outgoing(ctx, token), method, req, reply, cc, opts...)
	}
}

func streamMetadata(token string) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(outgoing(ctx, token), desc, cc, method, opts...)
	}
}
