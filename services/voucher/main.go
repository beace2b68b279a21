// Command voucher stores issued vouchers and lists them by phone number.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/voucher/internal/app"
	"github.com/bankabc/vouchers/services/voucher/internal/ports"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(service.Healthcheck(os.Getenv, "8083"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "voucher:", err)
		os.Exit(1)
	}
}

type config struct {
	Port       string // APP_PORT
	Sidecar    service.Sidecar
	StateStore string // STATE_STORE
	LogLevel   string // LOG_LEVEL
}

func loadConfig(getenv func(string) string) config {
	return config{
		Port:       service.Env(getenv, "APP_PORT", "8083"),
		Sidecar:    service.Sidecar{HTTPPort: getenv("DAPR_HTTP_PORT"), GRPCPort: getenv("DAPR_GRPC_PORT")},
		StateStore: service.Env(getenv, "STATE_STORE", "voucher-store"),
		LogLevel:   getenv("LOG_LEVEL"),
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg := loadConfig(getenv)
	log := service.Logger(stdout, "voucher", cfg.LogLevel)
	service.StartPprof(ctx, log, getenv("PPROF_ADDR"))
	return service.Run(ctx, log, service.ListenAddr(getenv, cfg.Port), cfg.Sidecar, func(_ context.Context, c dapr.Client) (http.Handler, error) {
		a := app.App{
			Vouchers: daprx.Store[app.Voucher]{Client: c, Name: cfg.StateStore},
			Indexes:  daprx.Store[app.PhoneIndex]{Client: c, Name: cfg.StateStore},
		}
		return ports.Routes(log, a), nil
	})
}
