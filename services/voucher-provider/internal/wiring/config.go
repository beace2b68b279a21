package wiring

import (
	"fmt"

	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/vps"
)

// DefaultAppPort is the port the sidecar calls when APP_PORT is unset.
const DefaultAppPort = "8081"

// Config is the service's settings, from its environment.
type Config struct {
	Port          string // APP_PORT
	Sidecar       service.Sidecar
	AppToken      string // APP_API_TOKEN: guards the test controls (service.AppToken)
	LogLevel      string // LOG_LEVEL
	VPS           vps.Config
	CallbackAppID string // CALLBACK_APP_ID
	CallbackPath  string // CALLBACK_PATH
	// The chance that a trace started here is sampled.
	TraceSampleRate float64 // TRACING_SAMPLING_RATE
}

// LoadConfig reads the settings from getenv, with their defaults.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Port:          service.Env(getenv, "APP_PORT", DefaultAppPort),
		Sidecar:       service.SidecarOf(getenv),
		LogLevel:      getenv("LOG_LEVEL"),
		CallbackAppID: service.Env(getenv, "CALLBACK_APP_ID", "voucher-int"),
		CallbackPath:  service.Env(getenv, "CALLBACK_PATH", "api/voucher-code/vps/response"),
	}
	var err error
	if c.AppToken, err = service.AppToken(getenv); err != nil {
		return c, err
	}
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
