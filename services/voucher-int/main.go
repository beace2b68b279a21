// Command voucher-int buys vouchers from the Voucher Provider Server for
// request-code events and publishes the outcomes as receive-code.
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
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/kit/work"
	"github.com/bankabc/vouchers/services/voucher-int/internal/adapters"
	"github.com/bankabc/vouchers/services/voucher-int/internal/app"
	"github.com/bankabc/vouchers/services/voucher-int/internal/ports"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(service.Healthcheck(os.Getenv, "8082", os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "voucher-int:", err)
		os.Exit(1)
	}
}

type config struct {
	Port       string // APP_PORT
	AppToken   string // APP_API_TOKEN
	Sidecar    service.Sidecar
	StateStore string // STATE_STORE
	// The outbox relay publishes a receive-code its write left unpublished
	// this long after the write.
	RelayAfter       time.Duration // OUTBOX_RELAY_AFTER
	ProviderAppID    string        // PROVIDER_APP_ID
	ProviderStatusID string        // PROVIDER_STATUS_APP_ID
	ProviderBudget   time.Duration // PROVIDER_TIMEOUT
	LateAfter        time.Duration // LATE_AFTER
	OrderDeadline    time.Duration // ORDER_DEADLINE
	RecheckEvery     time.Duration // RECONCILE_RECHECK
	ReconcileWorkers int           // RECONCILE_WORKERS
	OrderWorkers     int           // ORDER_WORKERS
	LogLevel         string        // LOG_LEVEL
	TraceSampleRate  float64       // TRACING_SAMPLING_RATE
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		Port:             service.Env(getenv, "APP_PORT", "8082"),
		Sidecar:          service.SidecarOf(getenv),
		StateStore:       service.Env(getenv, "STATE_STORE", "voucher-int-store"),
		ProviderAppID:    service.Env(getenv, "PROVIDER_APP_ID", "vps"),
		ProviderStatusID: service.Env(getenv, "PROVIDER_STATUS_APP_ID", "vps-status"),
		LogLevel:         getenv("LOG_LEVEL"),
	}
	if err := service.Durations(getenv,
		service.Duration{Name: "PROVIDER_TIMEOUT", Default: "3s", Dst: &c.ProviderBudget},
		service.Duration{Name: "LATE_AFTER", Default: "30s", Dst: &c.LateAfter},
		service.Duration{Name: "ORDER_DEADLINE", Default: "2m", Dst: &c.OrderDeadline},
		service.Duration{Name: "RECONCILE_RECHECK", Default: "2s", Dst: &c.RecheckEvery},
		service.Duration{Name: "OUTBOX_RELAY_AFTER", Default: "5s", Dst: &c.RelayAfter},
	); err != nil {
		return c, err
	}
	if err := service.PositiveInts(getenv,
		service.PositiveInt{Name: "RECONCILE_WORKERS", Default: "16", Dst: &c.ReconcileWorkers},
		service.PositiveInt{Name: "ORDER_WORKERS", Default: "64", Dst: &c.OrderWorkers},
	); err != nil {
		return c, err
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
	log := service.Logger(stdout, "voucher-int", cfg.LogLevel)
	service.StartPprof(ctx, log, getenv("PPROF_ADDR"))
	reg := metrics.NewRegistry()
	providerMetrics := metrics.NewProvider(reg)
	sweeps := metrics.NewSweeps(reg)
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
		instance := service.InstanceName("voucher-int")
		outbox := daprx.NewOutbox(c, cfg.StateStore, events.PubSub, instance, cfg.RelayAfter, log)
		outbox.Intents.Failures = sweeps
		a := app.App{
			Orders:  daprx.Store[app.Order]{Client: c, Name: cfg.StateStore, Outbox: outbox},
			Pending: daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: c, Name: cfg.StateStore}, Name: "pending-orders", Shards: 16},
			Due:     daprx.NewSchedule(c, cfg.StateStore, "due-orders", instance, cfg.RecheckEvery).LogTo(log).CountTo(sweeps),
			Provider: adapters.Provider{
				Invoker:     daprx.Invoker{SidecarURL: cfg.Sidecar.URL(), Token: cfg.Sidecar.Token},
				AppID:       cfg.ProviderAppID,
				StatusAppID: cfg.ProviderStatusID,
				Budget:      cfg.ProviderBudget,
				Metrics:     providerMetrics,
			},
			Outcomes:     daprx.Publisher{Client: c, PubSub: events.PubSub},
			Now:          time.Now,
			LateAfter:    cfg.LateAfter,
			Deadline:     cfg.OrderDeadline,
			RecheckEvery: cfg.RecheckEvery,
			// A claim outlives one provider call, so two replicas never
			// ask about the same order at once.
			Lease:    2*cfg.ProviderBudget + time.Second,
			Instance: httpx.NewID(),
			// Provider calls in flight at once, beyond the one the broker
			// is delivering; each ends within the provider's budget.
			Work:     work.NewPool(cfg.OrderWorkers, 2*cfg.ProviderBudget+5*time.Second),
			Log:      log,
			Failures: sweeps,
		}
		return ports.Routes(ctx, log, a, daprx.Outboxes{outbox}, cfg.ReconcileWorkers), nil
	})
}
