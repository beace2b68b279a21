// Command sms sends text messages through the Dapr output binding "sms".
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/sms/internal/adapters"
	"github.com/bankabc/vouchers/services/sms/internal/app"
	"github.com/bankabc/vouchers/services/sms/internal/ports"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(service.Healthcheck(os.Getenv, "8084", os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sms:", err)
		os.Exit(1)
	}
}

type config struct {
	Port            string // APP_PORT
	AppToken        string // APP_API_TOKEN
	Sidecar         service.Sidecar
	StateStore      string  // STATE_STORE
	Binding         string  // SMS_BINDING
	LogLevel        string  // LOG_LEVEL
	TraceSampleRate float64 // TRACING_SAMPLING_RATE
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		Port:       service.Env(getenv, "APP_PORT", "8084"),
		Sidecar:    service.SidecarOf(getenv),
		StateStore: service.Env(getenv, "STATE_STORE", "sms-store"),
		Binding:    service.Env(getenv, "SMS_BINDING", "sms"),
		LogLevel:   getenv("LOG_LEVEL"),
	}
	var err error
	if c.AppToken, err = service.AppToken(getenv); err != nil {
		return c, err
	}
	c.TraceSampleRate, err = service.SampleRate(getenv)
	return c, err
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.Logger(stdout, "sms", cfg.LogLevel)
	service.StartPprof(ctx, log, getenv("PPROF_ADDR"))
	reg := metrics.NewRegistry()
	sent := metrics.NewSMS(reg)
	svc := service.App{
		Log: log, Addr: service.ListenAddr(getenv, cfg.Port), AppToken: cfg.AppToken, Sidecar: cfg.Sidecar, Metrics: reg,
		Needs: service.Needs{
			Components: []string{cfg.StateStore, events.PubSub, cfg.Binding},
			Stores:     []string{cfg.StateStore},
		},
		TraceSampleRate: cfg.TraceSampleRate,
	}
	return service.Run(ctx, svc, func(_ context.Context, c dapr.Client) (service.Faces, error) {
		a := app.App{
			Log:     daprx.Store[app.Sent]{Client: c, Name: cfg.StateStore},
			Gateway: adapters.Binding{Client: c, Name: cfg.Binding},
			Now:     time.Now,
			Metrics: sent,
		}
		return service.Faces{Sidecar: ports.Routes(log, a)}, nil
	})
}
