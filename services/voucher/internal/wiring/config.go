package wiring

import "github.com/bankabc/vouchers/kit/service"

// DefaultAppPort is the port the sidecar calls when APP_PORT is unset.
const DefaultAppPort = "8083"

// Config is the service's settings, from its environment.
type Config struct {
	Port            string // APP_PORT
	AppToken        string // APP_API_TOKEN
	Sidecar         service.Sidecar
	StateStore      string  // STATE_STORE
	LogLevel        string  // LOG_LEVEL
	TraceSampleRate float64 // TRACING_SAMPLING_RATE
}

// LoadConfig reads the settings from getenv, with their defaults.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Port:       service.Env(getenv, "APP_PORT", DefaultAppPort),
		Sidecar:    service.SidecarOf(getenv),
		StateStore: service.Env(getenv, "STATE_STORE", "voucher-store"),
		LogLevel:   getenv("LOG_LEVEL"),
	}
	var err error
	if c.AppToken, err = service.AppToken(getenv); err != nil {
		return c, err
	}
	c.TraceSampleRate, err = service.SampleRate(getenv)
	return c, err
}
