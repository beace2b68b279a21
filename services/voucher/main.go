// Command voucher stores issued vouchers and lists them by phone number.
package main

import (
	"context"
	"io"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/voucher/internal/ports"
	"github.com/bankabc/vouchers/services/voucher/internal/wiring"
)

func main() { service.Main("voucher", wiring.DefaultAppPort, run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := wiring.LoadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.Logger(stdout, "voucher", cfg.LogLevel)
	service.StartPprof(ctx, log, getenv("PPROF_ADDR"))
	svc := service.App{
		Log: log, Addr: service.ListenAddr(getenv, cfg.Port), AppToken: cfg.AppToken, Sidecar: cfg.Sidecar, Metrics: metrics.NewRegistry(),
		Needs: service.Needs{
			Components: []string{cfg.StateStore, events.PubSub},
			Stores:     []string{cfg.StateStore},
		},
		TraceSampleRate: cfg.TraceSampleRate,
	}
	return service.Run(ctx, svc, func(_ context.Context, c dapr.Client) (service.Faces, error) {
		return service.Faces{Sidecar: ports.Routes(log, wiring.Build(c, cfg, log))}, nil
	})
}
