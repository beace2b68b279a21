package wiring

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/bankabc/vouchers/kit/service"
	adapters "github.com/bankabc/vouchers/services/gateway/internal/purchase/adapters"
)

// gateway's two ports: the public API, and the app port its sidecar calls.
const (
	DefaultPublicPort = "8080"
	DefaultAppPort    = "8090"
)

// Config is gateway's settings, from its environment.
type Config struct {
	Port          string `env:"APP_PORT, default=8090"` // what the sidecar calls
	PublicAddr    string // PUBLIC_HOST:PUBLIC_PORT: the API (service.PublicListenAddr)
	AppToken      string // APP_API_TOKEN (service.AppToken)
	Sidecar       service.Sidecar
	StateStore    string        `env:"STATE_STORE, default=gateway-store"`
	SecretStore   string        `env:"SECRET_STORE, default=secretstore"`
	VoucherAppID  string        `env:"VOUCHER_APP_ID, default=voucher"`
	SessionIdle   time.Duration `env:"SESSION_IDLE_TIMEOUT, default=10m"`
	TokenLifetime time.Duration `env:"TOKEN_LIFETIME, default=24h"`
	LogLevel      string        `env:"LOG_LEVEL"`
	// Deliveries.
	DeliveryStore string `env:"DELIVERY_STORE, default=gateway-deliveries"`
	// A delivery's record goes this long after its last write. It carries a
	// copy of the code, and the request keeps the outcome.
	DeliveryRetention time.Duration   `env:"DELIVERY_RETENTION, default=720h"`
	WebhookSchedule   []time.Duration `env:"WEBHOOK_RETRY_SCHEDULE, default=1s,5s,15s,30s"`
	WebhookTimeout    time.Duration   `env:"WEBHOOK_TIMEOUT, default=5s"`
	MaxRetryAfter     time.Duration   `env:"WEBHOOK_MAX_RETRY_AFTER, default=5m"`
	AllowedNetworks   []netip.Prefix  `env:"WEBHOOK_ALLOWED_NETWORKS"`
	AllowHTTP         bool            `env:"WEBHOOK_ALLOW_HTTP"`
	// Webhook attempts at once, and one customer's share of them.
	WebhookConcurrency            int `env:"WEBHOOK_CONCURRENCY, default=64"`
	WebhookConcurrencyPerCustomer int `env:"WEBHOOK_CONCURRENCY_PER_CUSTOMER, default=4"`
	// Pending webhooks per customer; more callback purchases get 429.
	WebhookPendingPerCustomer int `env:"WEBHOOK_PENDING_PER_CUSTOMER, default=100"`
	// A webhook attempt this late goes by SMS.
	WebhookOverdueAfter time.Duration `env:"WEBHOOK_OVERDUE_AFTER, default=2m"`
	// After this, a code comes by SMS. voucher-int's LATE_AFTER is the same.
	LateAfter time.Duration `env:"LATE_AFTER, default=30s"`
	// Ports never reached even on allowed networks: SYSTEM_PORTS and our own.
	SystemPorts adapters.Ports
	// Phone codes and abuse limits.
	CodeTTL             time.Duration `env:"PHONE_CODE_TTL, default=5m"`
	CodeCooldown        time.Duration `env:"PHONE_CODE_COOLDOWN, default=60s"`
	CodeTries           int           `env:"PHONE_CODE_TRIES, default=5"`
	MaxFailures         int           `env:"LOCK_AFTER_FAILURES, default=5"`
	Lock                time.Duration `env:"LOCK_DURATION, default=1m"`
	MaxLock             time.Duration `env:"LOCK_MAX_DURATION, default=1h"`
	MaxHashing          int           `env:"MAX_HASHING, default=4"`
	MaxHashingPerClient int           `env:"MAX_HASHING_PER_CLIENT, default=1"`
	TextsPerDay         int           `env:"TEXTS_PER_ACCOUNT_PER_DAY, default=5"`
	// Where mobiles may be texted: region codes, or "*" for any.
	TextRegions       []string `env:"SMS_REGIONS, default=VN"`
	TextBudgetHour    int      `env:"TEXT_BUDGET_PER_HOUR, default=1000"`
	TextBudgetClient  int      `env:"TEXT_BUDGET_PER_CLIENT_PER_HOUR, default=20"`
	TextsPerNumberDay int      `env:"TEXTS_PER_NUMBER_PER_DAY, default=10"`
	// Voucher codes texted to one number a day.
	VoucherTextsPerDay int `env:"VOUCHER_TEXTS_PER_NUMBER_PER_DAY, default=20"`
	// Failed sign-ins of one username from every client together.
	AccountFailures int            `env:"LOCK_ACCOUNT_AFTER_FAILURES, default=20"`
	AccountLock     time.Duration  `env:"LOCK_ACCOUNT_DURATION, default=15m"`
	TrustedProxies  []netip.Prefix `env:"TRUSTED_PROXIES"`
	// Requests still processing are sent to voucher-int again after this.
	RedriveAfter time.Duration `env:"REDRIVE_AFTER, default=45s"`
	// How long an unpublished outbox event waits for the relay.
	RelayAfter time.Duration `env:"OUTBOX_RELAY_AFTER, default=5s"`
	// How long an unconfirmed SMS waits before it is published again.
	SMSConfirmAfter time.Duration `env:"SMS_CONFIRM_AFTER, default=30s"`
	SMSAppID        string        `env:"SMS_APP_ID, default=sms"`
	// Customer requests in progress at once; more are answered 503.
	MaxInFlight int `env:"MAX_IN_FLIGHT, default=128"`
	// Purchases accepted here and still processing; more are answered 503.
	MaxProcessing int `env:"MAX_PROCESSING, default=500"`
	// One customer's share of them; more are answered 429.
	MaxProcessingPerCustomer int `env:"MAX_PROCESSING_PER_CUSTOMER, default=50"`
	// Deliveries started in the background at once.
	DeliveryWorkers int `env:"DELIVERY_WORKERS, default=64"`
	// The chance that a trace started here is sampled.
	TraceSampleRate float64 `env:"TRACING_SAMPLING_RATE, default=0"`
}

// LoadConfig reads the settings from getenv, with their defaults.
func LoadConfig(getenv func(string) string) (Config, error) {
	var c Config
	if err := service.LoadEnv(getenv, &c); err != nil {
		return c, err
	}
	c.PublicAddr = service.PublicListenAddr(getenv, DefaultPublicPort)
	if len(c.TextRegions) == 1 && c.TextRegions[0] == "*" {
		c.TextRegions = nil // any region's mobiles
	}
	for i, r := range c.TextRegions {
		c.TextRegions[i] = strings.ToUpper(r)
	}
	// A pending delivery is written every few minutes at most.
	if c.DeliveryRetention < 24*time.Hour {
		return c, fmt.Errorf("DELIVERY_RETENTION: must be at least 24h, not %q", getenv("DELIVERY_RETENTION"))
	}
	var err error
	if c.AppToken, err = service.AppToken(getenv); err != nil {
		return c, err
	}
	c.SystemPorts, err = systemPorts(getenv, c)
	return c, err
}

// systemPorts adds gateway's own ports, known however it was started.
func systemPorts(getenv func(string) string, c Config) (adapters.Ports, error) {
	ports, err := adapters.ParsePorts(getenv("SYSTEM_PORTS"))
	if err != nil {
		return nil, fmt.Errorf("SYSTEM_PORTS: %w", err)
	}
	_, public, _ := net.SplitHostPort(c.PublicAddr)
	metrics := getenv("DAPR_METRICS_PORT")
	for _, p := range []string{c.Port, public, cmp.Or(c.Sidecar.HTTPPort, "3500"), cmp.Or(c.Sidecar.GRPCPort, "50001"), metrics} {
		own, err := adapters.ParsePorts(p)
		if err != nil {
			return nil, fmt.Errorf("gateway's own port %q: %w", p, err)
		}
		ports = append(ports, own...)
	}
	return ports, nil
}
