package wiring

import (
	"time"

	"github.com/bankabc/vouchers/kit/service"
)

// DefaultAppPort is the port the sidecar calls when APP_PORT is unset.
const DefaultAppPort = "8082"

// Config is the service's settings, from its environment.
type Config struct {
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

// LoadConfig reads the settings from getenv, with their defaults.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Port:             service.Env(getenv, "APP_PORT", DefaultAppPort),
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
