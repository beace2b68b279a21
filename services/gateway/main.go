// Command gateway is the public API: accounts, sessions, purchases.
package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/kit/work"
	"github.com/bankabc/vouchers/services/gateway/internal/adapters"
	"github.com/bankabc/vouchers/services/gateway/internal/app"
	"github.com/bankabc/vouchers/services/gateway/internal/ports"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(service.Healthcheck(os.Getenv, defaultAppPort, os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// gateway's two ports: the public API, and the app port its sidecar calls.
const (
	defaultPublicPort = "8080"
	defaultAppPort    = "8090"
)

type config struct {
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
	// Deliveries started in the background at once.
	DeliveryWorkers int // DELIVERY_WORKERS
	// The chance that a trace started here is sampled.
	TraceSampleRate float64 // TRACING_SAMPLING_RATE
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		Port:          service.Env(getenv, "APP_PORT", defaultAppPort),
		PublicAddr:    service.PublicListenAddr(getenv, defaultPublicPort),
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
		service.PositiveInt{Name: "DELIVERY_WORKERS", Default: "64", Dst: &c.DeliveryWorkers},
		service.PositiveInt{Name: "MAX_HASHING", Default: "4", Dst: &c.MaxHashing},
		service.PositiveInt{Name: "MAX_HASHING_PER_CLIENT", Default: "1", Dst: &c.MaxHashingPerClient},
		service.PositiveInt{Name: "TEXTS_PER_ACCOUNT_PER_DAY", Default: "5", Dst: &c.TextsPerDay},
		service.PositiveInt{Name: "TEXTS_PER_NUMBER_PER_DAY", Default: "10", Dst: &c.TextsPerNumberDay},
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

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.Logger(stdout, "gateway", cfg.LogLevel)
	service.StartPprof(ctx, log, getenv("PPROF_ADDR"))
	reg := metrics.NewRegistry()
	svc := service.App{
		Log: log, Addr: service.ListenAddr(getenv, cfg.Port), PublicAddr: cfg.PublicAddr, AppToken: cfg.AppToken,
		Sidecar: cfg.Sidecar, Metrics: reg,
		Needs: service.Needs{
			Components: []string{cfg.StateStore, cfg.DeliveryStore, events.PubSub, cfg.SecretStore},
			Stores:     []string{cfg.StateStore, cfg.DeliveryStore},
		},
		TraceSampleRate: cfg.TraceSampleRate,
	}
	purchaseMetrics, webhookMetrics, deadLetterMetrics := metrics.NewPurchases(reg), metrics.NewWebhooks(reg), metrics.NewDeadLetters(reg)
	sweeps := metrics.NewSweeps(reg)
	return service.Run(ctx, svc, func(ctx context.Context, c dapr.Client) (service.Faces, error) {
		tokens, err := signingKey(ctx, c, cfg)
		if err != nil {
			return service.Faces{}, err
		}
		// request-code goes through the outbox of the requests' store,
		// send-sms through the deliveries' store's, kept until sms confirms.
		holder := service.InstanceName("gateway")
		requestEvents := daprx.NewOutbox(c, cfg.StateStore, events.PubSub, holder, cfg.RelayAfter, log)
		smsEvents := daprx.NewOutbox(c, cfg.DeliveryStore, events.PubSub, holder, cfg.RelayAfter, log)
		requestEvents.Intents.CountTo(sweeps)
		smsEvents.Intents.CountTo(sweeps)
		smsEvents.Confirm = map[string]daprx.Confirmation{events.TopicSendSMS: {
			After:     cfg.SMSConfirmAfter,
			Confirmer: adapters.SMSConfirmer{Invoker: daprx.Invoker{SidecarURL: cfg.Sidecar.URL(), Token: cfg.Sidecar.Token}, AppID: cfg.SMSAppID},
		}}
		outboxes := daprx.Outboxes{requestEvents, smsEvents}
		// Code texts (verification, unlock) and sign-up notices share one cap
		// a day per account and per number.
		daily := &app.DailyCaps{Store: daprx.Store[app.Count]{Client: c, Name: cfg.StateStore, TTL: 48 * time.Hour}, Now: time.Now,
			PerAccount: cfg.TextsPerDay, PerNumber: cfg.TextsPerNumberDay}
		// Unlock codes have caps of their own: anyone can ask for one, and
		// must not spend the codes an owner needs to verify a number.
		unlockDaily := &app.DailyCaps{Name: "unlock-texts", Store: daily.Store, Now: time.Now, PerAccount: 3, PerNumber: 3}
		codes := app.Codes{
			Store:    daprx.Store[app.PhoneCode]{Client: c, Name: cfg.DeliveryStore, TTL: cfg.CodeTTL, Outbox: smsEvents},
			Now:      time.Now,
			NewCode:  adapters.NewSixDigitCode,
			TTL:      cfg.CodeTTL,
			Cooldown: cfg.CodeCooldown,
			MaxTries: cfg.CodeTries,
			Daily:    daily,
		}
		// Unlock codes: the same store and rules, their own keys, text and
		// daily caps.
		unlockCodes := codes
		unlockCodes.Kind, unlockCodes.Text, unlockCodes.Daily = "unlock-code", app.UnlockCodeText, unlockDaily
		limits := app.Limits{
			Store:       daprx.Store[app.Strikes]{Client: c, Name: cfg.StateStore, TTL: cfg.MaxLock},
			Now:         time.Now,
			MaxFailures: cfg.MaxFailures,
			Lock:        cfg.Lock,
			MaxLock:     cfg.MaxLock,
		}
		// Failures of a username from every client together: the same
		// store, its own bound and first lock.
		accountLimits := limits
		accountLimits.MaxFailures, accountLimits.Lock = cfg.AccountFailures, cfg.AccountLock
		acc := app.Accounts{
			Users:         daprx.Store[app.User]{Client: c, Name: cfg.StateStore},
			Phones:        daprx.Store[app.PhoneClaim]{Client: c, Name: cfg.StateStore},
			Codes:         codes,
			Limits:        limits,
			AccountLimits: accountLimits,
			UnlockCodes:   unlockCodes,
			Sessions:      daprx.Store[app.Session]{Client: c, Name: cfg.StateStore, TTL: cfg.SessionIdle},
			// A list outlives its newest session by at most a token's life.
			SessionLists:  daprx.Store[app.SessionList]{Client: c, Name: cfg.StateStore, TTL: cfg.TokenLifetime},
			SessionMaxAge: cfg.TokenLifetime,
			Hasher:        adapters.DefaultArgon2id,
			Hashing:       app.NewSlots(cfg.MaxHashing, cfg.MaxHashingPerClient),
			Tokens:        tokens,
			Now:           time.Now,
			NewID:         httpx.NewID,
			NewSecret:     adapters.NewWebhookSecret,
			IdleTimeout:   cfg.SessionIdle,
			SMSPolicy: app.SMSPolicy{Regions: cfg.TextRegions, Budget: &app.TextBudget{
				Store: daprx.Store[app.Count]{Client: c, Name: cfg.StateStore, TTL: 2 * time.Hour}, Now: time.Now,
				PerHour: cfg.TextBudgetHour, PerClientPerHour: cfg.TextBudgetClient}},
		}
		guard := adapters.NetGuard{Allowed: cfg.AllowedNetworks}
		deliveries := app.Deliveries{
			Store: daprx.Store[app.Delivery]{Client: c, Name: cfg.DeliveryStore, Outbox: smsEvents},
			Pending: daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: c, Name: cfg.DeliveryStore},
				Name: "pending-webhooks", Shards: 8},
			Users:         acc.Users,
			Webhooks:      adapters.Webhooks{HTTP: adapters.GuardedWebhookClient(cfg.WebhookTimeout, guard), Now: time.Now, Log: log},
			Now:           time.Now,
			Schedule:      cfg.WebhookSchedule,
			MaxRetryAfter: cfg.MaxRetryAfter,
			Metrics:       webhookMetrics,
			Failures:      sweeps,
			Log:           log,
			// A claim outlives one webhook attempt.
			FirstAttemptLease: cfg.WebhookTimeout + 5*time.Second,
		}
		backlog := &app.Backlog{Max: cfg.MaxProcessing, Forget: time.Minute, RetryAfter: 2 * time.Second, Now: time.Now,
			Recheck: 64, RecheckEvery: 250 * time.Millisecond}
		pur := app.Purchases{
			Backlog:    backlog,
			Requests:   daprx.Store[app.Request]{Client: c, Name: cfg.StateStore, Outbox: requestEvents},
			Vouchers:   adapters.Vouchers{Invoker: daprx.Invoker{SidecarURL: cfg.Sidecar.URL(), Token: cfg.Sidecar.Token}, AppID: cfg.VoucherAppID},
			Deliveries: deliveries,
			Callbacks:  guard,
			AllowHTTP:  cfg.AllowHTTP,
			Redrive: app.Redrive{
				Schedule:   daprx.NewSchedule(c, cfg.StateStore, "redrive", holder, cfg.RedriveAfter).LogTo(log).CountTo(sweeps),
				Requests:   daprx.Store[app.Request]{Client: c, Name: cfg.StateStore},
				Events:     daprx.Publisher{Client: c, PubSub: events.PubSub},
				After:      cfg.RedriveAfter,
				Deliveries: deliveries,
			},
			// Deliveries started at once, beyond the receive-code the broker
			// is delivering; each ends within a webhook attempt.
			Work:    work.NewPool(cfg.DeliveryWorkers, cfg.WebhookTimeout+10*time.Second),
			Now:     time.Now,
			NewID:   httpx.NewID,
			Metrics: purchaseMetrics,
			Log:     log,
		}
		backlog.Finished = pur.Finished
		ops := ports.Ops{DeadLetters: app.DeadLetters{
			Store:     daprx.Store[app.DeadLetter]{Client: c, Name: cfg.StateStore},
			Index:     daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: c, Name: cfg.StateStore}, Name: "dead-letters", Shards: 4},
			Publisher: daprx.Publisher{Client: c, PubSub: events.PubSub},
			Now:       time.Now,
			Metrics:   deadLetterMetrics,
		}}
		// No operator token in the secret store: /ops/ stays closed.
		if m, err := c.GetSecret(ctx, cfg.SecretStore, "ops-token", nil); err == nil {
			ops.Token = m["ops-token"]
		}
		// A claim outlives one webhook attempt.
		faces := ports.Routes(ctx, log, acc, pur, ops, outboxes, cfg.WebhookTimeout+5*time.Second, ports.Clients{TrustedProxies: cfg.TrustedProxies})
		faces.Public = ports.Shed(faces.Public, cfg.MaxInFlight)
		return faces, nil
	})
}

// signingKey reads the JWT key and its id from the Dapr secret store.
func signingKey(ctx context.Context, c dapr.Client, cfg config) (adapters.JWT, error) {
	get := func(name string) (string, error) {
		m, err := c.GetSecret(ctx, cfg.SecretStore, name, nil)
		if err != nil {
			return "", fmt.Errorf("secret %q from %s: %w", name, cfg.SecretStore, err)
		}
		if m[name] == "" {
			return "", fmt.Errorf("secret %q in %s is empty", name, cfg.SecretStore)
		}
		return m[name], nil
	}
	raw, err := get("jwt-signing-key")
	if err != nil {
		return adapters.JWT{}, err
	}
	key, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(key) < 32 {
		return adapters.JWT{}, fmt.Errorf("secret jwt-signing-key must be at least 32 bytes, base64 without padding")
	}
	kid, err := get("jwt-key-id")
	if err != nil {
		return adapters.JWT{}, err
	}
	return adapters.JWT{KeyID: kid, Key: key, Lifetime: cfg.TokenLifetime}, nil
}
