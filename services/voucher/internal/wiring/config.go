package wiring

import "github.com/bankabc/vouchers/kit/service"

// DefaultAppPort is the port the sidecar calls when APP_PORT is unset.
const DefaultAppPort = "8083"

// Config is the service's settings, from its environment (service.LoadEnv).
type Config struct {
	Port            string `env:"APP_PORT, default=8083"`
	AppToken        string // APP_API_TOKEN (service.AppToken)
	Sidecar         service.Sidecar
	StateStore      string  `env:"STATE_STORE, default=voucher-store"`
	LogLevel        string  `env:"LOG_LEVEL"`
	TraceSampleRate float64 `env:"TRACING_SAMPLING_RATE, default=0"`
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
