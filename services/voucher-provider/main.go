// Command voucher-provider is the FAKE third-party Voucher Provider Server,
// for local runs and tests only.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/vps"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "voucher-provider:", err)
		os.Exit(1)
	}
}

// config is read from the environment, with defaults.
type config struct {
	Port     string // APP_PORT
	LogLevel string // LOG_LEVEL
}

func loadConfig(getenv func(string) string) config {
	c := config{Port: getenv("APP_PORT"), LogLevel: getenv("LOG_LEVEL")}
	if c.Port == "" {
		c.Port = "8081"
	}
	return c
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg := loadConfig(getenv)
	log := service.Logger(stdout, "voucher-provider", cfg.LogLevel)
	p := vps.New(time.Now)
	return httpx.Serve(ctx, "127.0.0.1:"+cfg.Port, httpx.Middleware(log, routes(log, p)), log, nil)
}
