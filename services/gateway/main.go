// Command gateway is the public API: accounts, sessions, purchases.
package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/service"
	adapters "github.com/bankabc/vouchers/services/gateway/internal/identity/adapters"
	"github.com/bankabc/vouchers/services/gateway/internal/ports"
	"github.com/bankabc/vouchers/services/gateway/internal/wiring"
)

func main() { service.Main("gateway", wiring.DefaultAppPort, run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := wiring.LoadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.Logger(stdout, "gateway", cfg.LogLevel)
	service.StartPprof(ctx, log, getenv("PPROF_ADDR"))
	reg := metrics.NewRegistry()
	svc := service.App{
		Log: log, Addr: service.ListenAddr(getenv, cfg.Port), PublicAddr: cfg.PublicAddr, AppToken: cfg.AppToken,
		Sidecar: cfg.Sidecar, Metrics: reg,
		Needs: service.Needs{
			Components: []string{cfg.StateStore, cfg.DeliveryStore, events.PubSub, cfg.SecretStore},
			Stores:     []string{cfg.StateStore, cfg.DeliveryStore},
		},
		TraceSampleRate: cfg.TraceSampleRate,
	}
	return service.Run(ctx, svc, func(ctx context.Context, c dapr.Client) (service.Faces, error) {
		tokens, err := signingKey(ctx, log, c, cfg)
		if err != nil {
			return service.Faces{}, err
		}
		g, err := wiring.Build(c, cfg, wiring.Externals{Tokens: tokens}, log, reg)
		if err != nil {
			return service.Faces{}, err
		}
		ops := ports.Ops{DeadLetters: g.DeadLetters}
		// No operator token in the secret store: /ops/ stays closed.
		if token, err := daprx.Secret(ctx, log, c, cfg.SecretStore, "ops-token"); err == nil {
			ops.Token = token
		} else if ctx.Err() != nil {
			return service.Faces{}, err
		}
		faces := ports.Routes{Log: log, Accounts: g.Accounts, Purchases: g.Purchases, Ops: ops, Relay: g.Outboxes, SweepLease: g.SweepLease,
			Clients: ports.Clients{TrustedProxies: cfg.TrustedProxies}}.Faces(ctx)
		faces.Public = ports.Shed(faces.Public, cfg.MaxInFlight)
		return faces, nil
	})
}

// signingKey reads the JWT key and its id from the Dapr secret store.
func signingKey(ctx context.Context, log *slog.Logger, c dapr.Client, cfg wiring.Config) (adapters.JWT, error) {
	get := func(name string) (string, error) {
		v, err := daprx.Secret(ctx, log, c, cfg.SecretStore, name)
		if err != nil {
			return "", err
		}
		if v == "" {
			return "", fmt.Errorf("secret %q in %s is empty", name, cfg.SecretStore)
		}
		return v, nil
	}
	raw, err := get("jwt-signing-key")
	if err != nil {
		return adapters.JWT{}, err
	}
	key, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(key) < 32 {
		return adapters.JWT{}, fmt.Errorf("secret jwt-signing-key must be at least 32 bytes, base64 without padding")
	}
	kid, err := get("jwt-key-id")
	if err != nil {
		return adapters.JWT{}, err
	}
	return adapters.JWT{KeyID: kid, Key: key, Lifetime: cfg.TokenLifetime}, nil
}
