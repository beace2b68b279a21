package wiring

import (
	"time"

	"github.com/bankabc/vouchers/kit/service"
)

// DefaultAppPort is the port the sidecar calls when APP_PORT is unset.
const DefaultAppPort = "8082"

// Config is the service's settings, from its environment (service.LoadEnv).
type Config struct {
	Port       string `env:"APP_PORT, default=8082"`
	AppToken   string // APP_API_TOKEN (service.AppToken)
	Sidecar    service.Sidecar
	StateStore string `env:"STATE_STORE, default=voucher-int-store"`
	// The outbox relay publishes a receive-code its write left unpublished
	// this long after the write.
	RelayAfter       time.Duration `env:"OUTBOX_RELAY_AFTER, default=5s"`
	ProviderAppID    string        `env:"PROVIDER_APP_ID, default=vps"`
	ProviderStatusID string        `env:"PROVIDER_STATUS_APP_ID, default=vps-status"`
	ProviderBudget   time.Duration `env:"PROVIDER_TIMEOUT, default=3s"`
	LateAfter        time.Duration `env:"LATE_AFTER, default=30s"`
	OrderDeadline    time.Duration `env:"ORDER_DEADLINE, default=2m"`
	RecheckEvery     time.Duration `env:"RECONCILE_RECHECK, default=2s"`
	ReconcileWorkers int           `env:"RECONCILE_WORKERS, default=16"`
	OrderWorkers     int           `env:"ORDER_WORKERS, default=64"`
	LogLevel         string        `env:"LOG_LEVEL"`
	TraceSampleRate  float64       `env:"TRACING_SAMPLING_RATE, default=0"`
}

// LoadConfig reads the settings from getenv, with their defaults.
func LoadConfig(getenv func(string) string) (Config, error) {
	var c Config
	if err := service.LoadEnv(getenv, &c); err != nil {
		return c, err
	}
	var err error
	c.AppToken, err = service.AppToken(getenv)
	return c, err
}
