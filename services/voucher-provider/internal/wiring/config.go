package wiring

import (
	"fmt"
	"time"

	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/vps"
)

// DefaultAppPort is the port the sidecar calls when APP_PORT is unset.
const DefaultAppPort = "8081"

// Config is the service's settings, from its environment (service.LoadEnv).
type Config struct {
	Port     string `env:"APP_PORT, default=8081"`
	Sidecar  service.Sidecar
	AppToken string // APP_API_TOKEN: guards the test controls (service.AppToken)
	LogLevel string `env:"LOG_LEVEL"`
	VPS      vps.Config
	// CallbackAppID and CallbackPath are where the late codes go.
	CallbackAppID string `env:"CALLBACK_APP_ID, default=voucher-int"`
	CallbackPath  string `env:"CALLBACK_PATH, default=api/voucher-code/vps/response"`
	// The chance that a trace started here is sampled.
	TraceSampleRate float64 `env:"TRACING_SAMPLING_RATE, default=0"`
}

// LoadConfig reads the settings from getenv, with their defaults.
func LoadConfig(getenv func(string) string) (Config, error) {
	// vps.Config's variables are named here: vps knows no environment.
	var env struct {
		Config
		Mode          string        `env:"PROVIDER_MODE"`
		AckAfter      time.Duration `env:"ACK_AFTER, default=2500ms"`
		LateAfter     time.Duration `env:"LATE_CALLBACK_AFTER, default=10s"`
		VeryLateAfter time.Duration `env:"VERY_LATE_CALLBACK_AFTER, default=40s"`
		RecoverAfter  time.Duration `env:"RECOVER_AFTER, default=20s"`
	}
	if err := service.LoadEnv(getenv, &env); err != nil {
		return Config{}, err
	}
	c := env.Config
	c.VPS = vps.Config{AckAfter: env.AckAfter, LateAfter: env.LateAfter, VeryLateAfter: env.VeryLateAfter, RecoverAfter: env.RecoverAfter}
	var err error
	if c.VPS.Mode, err = vps.ParseMode(env.Mode); err != nil {
		return c, fmt.Errorf("PROVIDER_MODE: %w", err)
	}
	c.AppToken, err = service.AppToken(getenv)
	return c, err
}
