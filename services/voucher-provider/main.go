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

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/adapters"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/ports"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/vps"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(service.Healthcheck(os.Getenv, "8081", os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "voucher-provider:", err)
		os.Exit(1)
	}
}

// config is read from the environment, with defaults.
type config struct {
	Port          string // APP_PORT
	Sidecar       service.Sidecar
	LogLevel      string // LOG_LEVEL
	VPS           vps.Config
	CallbackAppID string // CALLBACK_APP_ID
	CallbackPath  string // CALLBACK_PATH
	// The chance that a trace started here is sampled.
	TraceSampleRate float64 // TRACING_SAMPLING_RATE
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		Port:          service.Env(getenv, "APP_PORT", "8081"),
		Sidecar:       service.SidecarOf(getenv),
		LogLevel:      getenv("LOG_LEVEL"),
		CallbackAppID: service.Env(getenv, "CALLBACK_APP_ID", "voucher-int"),
		CallbackPath:  service.Env(getenv, "CALLBACK_PATH", "api/voucher-code/vps/response"),
	}
	var err error
	if c.TraceSampleRate, err = service.SampleRate(getenv); err != nil {
		return c, err
	}
	if c.VPS.Mode, err = vps.ParseMode(getenv("PROVIDER_MODE")); err != nil {
		return c, fmt.Errorf("PROVIDER_MODE: %w", err)
	}
	if err := service.Durations(getenv,
		service.Duration{Name: "ACK_AFTER", Default: "2500ms", Dst: &c.VPS.AckAfter},
		service.Duration{Name: "LATE_CALLBACK_AFTER", Default: "10s", Dst: &c.VPS.LateAfter},
		service.Duration{Name: "VERY_LATE_CALLBACK_AFTER", Default: "40s", Dst: &c.VPS.VeryLateAfter},
		service.Duration{Name: "RECOVER_AFTER", Default: "20s", Dst: &c.VPS.RecoverAfter},
	); err != nil {
		return c, err
	}
	return c, nil
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.Logger(stdout, "voucher-provider", cfg.LogLevel)
	cb := &adapters.Callbacks{
		Ctx: ctx, Log: log, Invoker: daprx.Invoker{SidecarURL: cfg.Sidecar.URL(), Token: cfg.Sidecar.Token},
		AppID: cfg.CallbackAppID, Path: cfg.CallbackPath,
	}
	p := vps.New(cfg.VPS, time.Now, cb.Schedule)
	cb.Delivered = p.CallbackDelivered
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
		service.Probes(reg, ready, ports.Routes(log, p)))
	return httpx.Serve(ctx, service.ListenAddr(getenv, cfg.Port), h, log, nil)
}
