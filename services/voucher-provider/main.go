// Command voucher-provider is the FAKE third-party Voucher Provider Server,
// for local runs and tests only.
package main

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/ports"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/wiring"
)

func main() { service.Main("voucher-provider", wiring.DefaultAppPort, run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := wiring.LoadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.Logger(stdout, "voucher-provider", cfg.LogLevel)
	stop, err := service.StartTracing(ctx, log, getenv, cfg.TraceSampleRate)
	if err != nil {
		return err
	}
	defer stop()
	p := wiring.Build(ctx, cfg, log, time.Now)
	log.Info("provider fake", "mode", string(cfg.VPS.Mode), "ack_after", cfg.VPS.AckAfter.String(),
		"late_after", cfg.VPS.LateAfter.String(), "very_late_after", cfg.VPS.VeryLateAfter.String(),
		"recover_after", cfg.VPS.RecoverAfter.String())
	// Ready when its sidecar, which carries the late callbacks, answers;
	// without one (DAPR_HTTP_PORT unset) there is nothing to wait for.
	var ready http.Handler = service.Readiness{Sidecar: cfg.Sidecar}
	if cfg.Sidecar.HTTPPort == "" {
		ready = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			httpx.Encode(w, http.StatusOK, map[string]any{"status": "ready", "checks": map[string]string{}})
		})
	}
	reg := metrics.NewRegistry()
	h := httpx.Observe(httpx.Observed{Log: log, Metrics: metrics.NewHTTP(reg)},
		service.Probes(reg, ready, ports.Routes(log, p, cfg.AppToken)))
	return httpx.Serve(ctx, service.ListenAddr(getenv, cfg.Port), h, log, nil)
}
