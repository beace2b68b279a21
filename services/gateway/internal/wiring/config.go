package wiring

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/gateway/internal/adapters"
)

// gateway's two ports: the public API, and the app port its sidecar calls.
const (
	DefaultPublicPort = "8080"
	DefaultAppPort    = "8090"
)

// Config is gateway's settings, from its environment.
type Config struct {
	Port          string // APP_PORT: what the sidecar calls
	PublicAddr    string // PUBLIC_HOST:PUBLIC_PORT: the API
	AppToken      string // APP_API_TOKEN
	Sidecar       service.Sidecar
	StateStore    string        // STATE_STORE
	SecretStore   string        // SECRET_STORE
	VoucherAppID  string        // VOUCHER_APP_ID
	SessionIdle   time.Duration // SESSION_IDLE_TIMEOUT
	TokenLifetime time.Duration // TOKEN_LIFETIME
	LogLevel      string        // LOG_LEVEL
	// Deliveries.
	DeliveryStore   string          // DELIVERY_STORE
	WebhookSchedule []time.Duration // WEBHOOK_RETRY_SCHEDULE
	WebhookTimeout  time.Duration   // WEBHOOK_TIMEOUT
	MaxRetryAfter   time.Duration   // WEBHOOK_MAX_RETRY_AFTER
	AllowedNetworks []netip.Prefix  // WEBHOOK_ALLOWED_NETWORKS
	AllowHTTP       bool            // WEBHOOK_ALLOW_HTTP
	// Webhook attempts at once, and one customer's share of them.
	WebhookConcurrency            int // WEBHOOK_CONCURRENCY
	WebhookConcurrencyPerCustomer int // WEBHOOK_CONCURRENCY_PER_CUSTOMER
	// One customer's webhooks waiting for another attempt; more purchases
	// with a callbackUrl are answered 429.
	WebhookPendingPerCustomer int // WEBHOOK_PENDING_PER_CUSTOMER
	// A webhook attempt this late (no place to send it from) goes by SMS.
	WebhookOverdueAfter time.Duration // WEBHOOK_OVERDUE_AFTER
	// A request still processing this long after it was accepted is past
	// the promise of its acknowledgement; its code then comes by SMS
	// (voucher-int's LATE_AFTER: the same setting).
	LateAfter time.Duration // LATE_AFTER
	// Ports an allowed network's address is never reached on: SYSTEM_PORTS
	// and gateway's own.
	SystemPorts adapters.Ports
	// Phone codes and abuse limits.
	CodeTTL             time.Duration // PHONE_CODE_TTL
	CodeCooldown        time.Duration // PHONE_CODE_COOLDOWN
	CodeTries           int           // PHONE_CODE_TRIES
	MaxFailures         int           // LOCK_AFTER_FAILURES
	Lock                time.Duration // LOCK_DURATION
	MaxLock             time.Duration // LOCK_MAX_DURATION
	MaxHashing          int           // MAX_HASHING
	MaxHashingPerClient int           // MAX_HASHING_PER_CLIENT
	TextsPerDay         int           // TEXTS_PER_ACCOUNT_PER_DAY
	TextRegions         []string      // SMS_REGIONS
	TextBudgetHour      int           // TEXT_BUDGET_PER_HOUR
	TextBudgetClient    int           // TEXT_BUDGET_PER_CLIENT_PER_HOUR
	TextsPerNumberDay   int           // TEXTS_PER_NUMBER_PER_DAY
	// Voucher codes texted to one number a day (purchases without a
	// callbackUrl).
	VoucherTextsPerDay int // VOUCHER_TEXTS_PER_NUMBER_PER_DAY
	// Failed sign-ins of one username from every client together.
	AccountFailures int            // LOCK_ACCOUNT_AFTER_FAILURES
	AccountLock     time.Duration  // LOCK_ACCOUNT_DURATION
	TrustedProxies  []netip.Prefix // TRUSTED_PROXIES
	// Requests still processing are sent to voucher-int again after this.
	RedriveAfter time.Duration // REDRIVE_AFTER
	// The outbox relay publishes an event its write left unpublished this
	// long after the write.
	RelayAfter time.Duration // OUTBOX_RELAY_AFTER
	// An SMS that sms has not confirmed this long after its publish is
	// published again.
	SMSConfirmAfter time.Duration // SMS_CONFIRM_AFTER
	SMSAppID        string        // SMS_APP_ID
	// Customer requests in progress at once; more are answered 503.
	MaxInFlight int // MAX_IN_FLIGHT
	// Purchases accepted here and still processing; more are answered 503.
	MaxProcessing int // MAX_PROCESSING
	// One customer's share of them; more are answered 429.
	MaxProcessingPerCustomer int // MAX_PROCESSING_PER_CUSTOMER
	// Deliveries started in the background at once.
	DeliveryWorkers int // DELIVERY_WORKERS
	// The chance that a trace started here is sampled.
	TraceSampleRate float64 // TRACING_SAMPLING_RATE
}

// LoadConfig reads the settings from getenv, with their defaults.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Port:          service.Env(getenv, "APP_PORT", DefaultAppPort),
		PublicAddr:    service.PublicListenAddr(getenv, DefaultPublicPort),
		Sidecar:       service.SidecarOf(getenv),
		StateStore:    service.Env(getenv, "STATE_STORE", "gateway-store"),
		SecretStore:   service.Env(getenv, "SECRET_STORE", "secretstore"),
		VoucherAppID:  service.Env(getenv, "VOUCHER_APP_ID", "voucher"),
		LogLevel:      getenv("LOG_LEVEL"),
		DeliveryStore: service.Env(getenv, "DELIVERY_STORE", "gateway-deliveries"),
		SMSAppID:      service.Env(getenv, "SMS_APP_ID", "sms"),
	}
	if err := service.Durations(getenv,
		service.Duration{Name: "SESSION_IDLE_TIMEOUT", Default: "10m", Dst: &c.SessionIdle},
		service.Duration{Name: "TOKEN_LIFETIME", Default: "24h", Dst: &c.TokenLifetime},
		service.Duration{Name: "WEBHOOK_TIMEOUT", Default: "5s", Dst: &c.WebhookTimeout},
		service.Duration{Name: "WEBHOOK_MAX_RETRY_AFTER", Default: "5m", Dst: &c.MaxRetryAfter},
		service.Duration{Name: "WEBHOOK_OVERDUE_AFTER", Default: "2m", Dst: &c.WebhookOverdueAfter},
		service.Duration{Name: "LATE_AFTER", Default: "30s", Dst: &c.LateAfter},
		service.Duration{Name: "PHONE_CODE_TTL", Default: "5m", Dst: &c.CodeTTL},
		service.Duration{Name: "PHONE_CODE_COOLDOWN", Default: "60s", Dst: &c.CodeCooldown},
		service.Duration{Name: "LOCK_DURATION", Default: "1m", Dst: &c.Lock},
		service.Duration{Name: "LOCK_MAX_DURATION", Default: "1h", Dst: &c.MaxLock},
		service.Duration{Name: "LOCK_ACCOUNT_DURATION", Default: "15m", Dst: &c.AccountLock},
		service.Duration{Name: "REDRIVE_AFTER", Default: "45s", Dst: &c.RedriveAfter},
		service.Duration{Name: "OUTBOX_RELAY_AFTER", Default: "5s", Dst: &c.RelayAfter},
		service.Duration{Name: "SMS_CONFIRM_AFTER", Default: "30s", Dst: &c.SMSConfirmAfter},
	); err != nil {
		return c, err
	}
	var err error
	if c.AppToken, err = service.AppToken(getenv); err != nil {
		return c, err
	}
	if c.TraceSampleRate, err = service.SampleRate(getenv); err != nil {
		return c, err
	}
	if c.AllowedNetworks, err = adapters.ParseNetworks(getenv("WEBHOOK_ALLOWED_NETWORKS")); err != nil {
		return c, fmt.Errorf("WEBHOOK_ALLOWED_NETWORKS: %w", err)
	}
	if c.SystemPorts, err = systemPorts(getenv, c); err != nil {
		return c, err
	}
	if c.TrustedProxies, err = adapters.ParseNetworks(getenv("TRUSTED_PROXIES")); err != nil {
		return c, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	switch v := strings.TrimSpace(getenv("SMS_REGIONS")); v {
	case "":
		c.TextRegions = []string{"VN"}
	case "*":
		c.TextRegions = nil // any region's mobiles
	default:
		for _, r := range strings.Split(v, ",") {
			c.TextRegions = append(c.TextRegions, strings.ToUpper(strings.TrimSpace(r)))
		}
	}
	switch v := getenv("WEBHOOK_ALLOW_HTTP"); v {
	case "", "false":
	case "true":
		c.AllowHTTP = true
	default:
		return c, fmt.Errorf("WEBHOOK_ALLOW_HTTP: %q is neither true nor false", v)
	}
	if err := service.PositiveInts(getenv,
		service.PositiveInt{Name: "PHONE_CODE_TRIES", Default: "5", Dst: &c.CodeTries},
		service.PositiveInt{Name: "LOCK_AFTER_FAILURES", Default: "5", Dst: &c.MaxFailures},
		service.PositiveInt{Name: "MAX_IN_FLIGHT", Default: "128", Dst: &c.MaxInFlight},
		service.PositiveInt{Name: "MAX_PROCESSING", Default: "500", Dst: &c.MaxProcessing},
		service.PositiveInt{Name: "MAX_PROCESSING_PER_CUSTOMER", Default: "50", Dst: &c.MaxProcessingPerCustomer},
		service.PositiveInt{Name: "DELIVERY_WORKERS", Default: "64", Dst: &c.DeliveryWorkers},
		service.PositiveInt{Name: "WEBHOOK_CONCURRENCY", Default: "64", Dst: &c.WebhookConcurrency},
		service.PositiveInt{Name: "WEBHOOK_CONCURRENCY_PER_CUSTOMER", Default: "4", Dst: &c.WebhookConcurrencyPerCustomer},
		service.PositiveInt{Name: "WEBHOOK_PENDING_PER_CUSTOMER", Default: "100", Dst: &c.WebhookPendingPerCustomer},
		service.PositiveInt{Name: "MAX_HASHING", Default: "4", Dst: &c.MaxHashing},
		service.PositiveInt{Name: "MAX_HASHING_PER_CLIENT", Default: "1", Dst: &c.MaxHashingPerClient},
		service.PositiveInt{Name: "TEXTS_PER_ACCOUNT_PER_DAY", Default: "5", Dst: &c.TextsPerDay},
		service.PositiveInt{Name: "TEXTS_PER_NUMBER_PER_DAY", Default: "10", Dst: &c.TextsPerNumberDay},
		service.PositiveInt{Name: "VOUCHER_TEXTS_PER_NUMBER_PER_DAY", Default: "20", Dst: &c.VoucherTextsPerDay},
		service.PositiveInt{Name: "TEXT_BUDGET_PER_HOUR", Default: "1000", Dst: &c.TextBudgetHour},
		service.PositiveInt{Name: "TEXT_BUDGET_PER_CLIENT_PER_HOUR", Default: "20", Dst: &c.TextBudgetClient},
		service.PositiveInt{Name: "LOCK_ACCOUNT_AFTER_FAILURES", Default: "20", Dst: &c.AccountFailures},
	); err != nil {
		return c, err
	}
	for _, s := range strings.Split(service.Env(getenv, "WEBHOOK_RETRY_SCHEDULE", "1s,5s,15s,30s"), ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d <= 0 {
			return c, fmt.Errorf("WEBHOOK_RETRY_SCHEDULE: %q is not a positive duration", s)
		}
		c.WebhookSchedule = append(c.WebhookSchedule, d)
	}
	return c, nil
}

// systemPorts is SYSTEM_PORTS (the runner lists every port it gives out)
// and gateway's own ports, which it knows however it was started.
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
