// Command voucher-provider is the FAKE third-party Voucher Provider Server,
// for local runs and tests only.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/ports"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/wiring"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(service.Healthcheck(os.Getenv, wiring.DefaultAppPort, os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "voucher-provider:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := wiring.LoadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.Logger(stdout, "voucher-provider", cfg.LogLevel)
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
	h := httpx.Observe(httpx.Observed{Log: log, Metrics: metrics.NewHTTP(reg), SampleRate: cfg.TraceSampleRate},
		service.Probes(reg, ready, ports.Routes(log, p, cfg.AppToken)))
	return httpx.Serve(ctx, service.ListenAddr(getenv, cfg.Port), h, log, nil)
}
