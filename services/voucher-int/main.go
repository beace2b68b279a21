// Command voucher-int buys vouchers from the Voucher Provider Server for
// request-code events and publishes the outcomes as receive-code.
package main

import (
	"context"
	"io"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/voucher-int/internal/ports"
	"github.com/bankabc/vouchers/services/voucher-int/internal/wiring"
)

func main() { service.Main("voucher-int", wiring.DefaultAppPort, run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := wiring.LoadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.Logger(stdout, "voucher-int", cfg.LogLevel)
	service.StartPprof(ctx, log, getenv("PPROF_ADDR"))
	reg := metrics.NewRegistry()
	svc := service.App{
		Log: log, Addr: service.ListenAddr(getenv, cfg.Port), AppToken: cfg.AppToken, Sidecar: cfg.Sidecar, Metrics: reg,
		Needs: service.Needs{
			Components: []string{cfg.StateStore, events.PubSub},
			Stores:     []string{cfg.StateStore},
		},
		TraceSampleRate: cfg.TraceSampleRate,
		// The provider's callback, for a provider outside the system.
		PublicAddr: service.PublicListenAddr(getenv, ""),
	}
	return service.Run(ctx, svc, func(ctx context.Context, c dapr.Client) (service.Faces, error) {
		g := wiring.Build(c, cfg, wiring.Externals{}, log, reg)
		return ports.Routes(ctx, log, g.App, g.Outboxes, cfg.ReconcileWorkers), nil
	})
}
