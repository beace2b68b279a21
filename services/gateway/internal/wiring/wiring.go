// Package wiring builds gateway's object graph: the use cases, their stores
// and outboxes, and the adapters they talk through. main's run and the
// handler tests build it here alike; the tests pass doubles for what lies
// outside the process (Externals) and a client over in-memory stores.
package wiring

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bankabc/vouchers/api"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/kit/work"
	"github.com/bankabc/vouchers/services/gateway/internal/adapters"
	"github.com/bankabc/vouchers/services/gateway/internal/adapters/openapi"
	"github.com/bankabc/vouchers/services/gateway/internal/app"
	"github.com/bankabc/vouchers/services/gateway/internal/domain"
)

// Client is the part of the Dapr client the graph uses: state, the
// outboxes' deletes, publishing.
type Client interface {
	daprx.OutboxClient
}

// Externals are what lies outside the process, besides the sidecar's state
// and pub/sub. Tokens is required; any other nil field gets the real
// adapter.
type Externals struct {
	Tokens app.Tokens
	// Vouchers asks the voucher service (service invocation).
	Vouchers app.Vouchers
	// SMS confirms what the sms service sent (service invocation).
	SMS daprx.Confirmer
	// Webhooks sends webhook attempts; Callbacks vets callbackUrls.
	Webhooks  app.Webhooks
	Callbacks app.HostGuard
	Hasher    app.Hasher
	Now       func() time.Time
	NewID     func() string
	NewCode   func() string
}

// Graph is the built object graph.
type Graph struct {
	Accounts    app.Accounts
	Purchases   app.Purchases
	Deliveries  app.Deliveries
	DeadLetters app.DeadLetters
	Outboxes    daprx.Outboxes
	// SweepLease is how long one replica holds a sweep: longer than one
	// webhook attempt.
	SweepLease time.Duration
}

// Build wires the graph over c with cfg, reporting to reg.
func Build(c Client, cfg Config, ext Externals, log *slog.Logger, reg prometheus.Registerer) (Graph, error) {
	rules, err := openapi.AccountRules(api.MustLoad())
	if err != nil {
		return Graph{}, err
	}
	invoker := daprx.Invoker{SidecarURL: cfg.Sidecar.URL(), Token: cfg.Sidecar.Token}
	guard := adapters.NetGuard{Allowed: cfg.AllowedNetworks, SystemPorts: cfg.SystemPorts}
	if ext.Vouchers == nil {
		ext.Vouchers = adapters.Vouchers{Invoker: invoker, AppID: cfg.VoucherAppID}
	}
	if ext.SMS == nil {
		ext.SMS = adapters.SMSConfirmer{Invoker: invoker, AppID: cfg.SMSAppID}
	}
	if ext.Webhooks == nil {
		ext.Webhooks = adapters.Webhooks{HTTP: adapters.GuardedWebhookClient(cfg.WebhookTimeout, guard), Now: time.Now, Log: log}
	}
	if ext.Callbacks == nil {
		ext.Callbacks = guard
	}
	if ext.Hasher == nil {
		ext.Hasher = adapters.DefaultArgon2id
	}
	if ext.Now == nil {
		ext.Now = time.Now
	}
	if ext.NewID == nil {
		ext.NewID = httpx.NewID
	}
	if ext.NewCode == nil {
		ext.NewCode = adapters.NewSixDigitCode
	}
	now := ext.Now
	purchaseMetrics, webhookMetrics, deadLetterMetrics := metrics.NewPurchases(reg), metrics.NewWebhooks(reg), metrics.NewDeadLetters(reg)
	sweeps := metrics.NewSweeps(reg)

	// request-code goes through the outbox of the requests' store,
	// send-sms through the deliveries' store's, kept until sms confirms.
	holder := service.InstanceName("gateway")
	requestEvents := daprx.NewOutbox(c, cfg.StateStore, events.PubSub, holder, cfg.RelayAfter, log)
	smsEvents := daprx.NewOutbox(c, cfg.DeliveryStore, events.PubSub, holder, cfg.RelayAfter, log)
	for _, o := range []*daprx.Outbox{requestEvents, smsEvents} {
		o.Intents.CountTo(sweeps)
		o.Intents.Now = now
	}
	smsEvents.Confirm = map[string]daprx.Confirmation{events.TopicSendSMS: {After: cfg.SMSConfirmAfter, Confirmer: ext.SMS}}

	// Code texts (verification, unlock) and sign-up notices share one cap
	// a day per account and per number.
	daily := &app.DailyCaps{Store: daprx.Store[app.Count]{Client: c, Name: cfg.StateStore, TTL: 48 * time.Hour}, Now: now,
		PerAccount: cfg.TextsPerDay, PerNumber: cfg.TextsPerNumberDay}
	// Unlock codes have caps of their own: anyone can ask for one, and
	// must not spend the codes an owner needs to verify a number.
	unlockDaily := &app.DailyCaps{Name: "unlock-texts", Store: daily.Store, Now: now, PerAccount: 3, PerNumber: 3}
	codes := app.Codes{
		Store:    daprx.Store[app.PhoneCode]{Client: c, Name: cfg.DeliveryStore, TTL: cfg.CodeTTL, Outbox: smsEvents},
		Now:      now,
		NewCode:  ext.NewCode,
		TTL:      cfg.CodeTTL,
		Cooldown: cfg.CodeCooldown,
		MaxTries: cfg.CodeTries,
		Rule:     rules.Code,
		Daily:    daily,
	}
	// Unlock codes: the same store and rules, their own keys, text and
	// daily caps.
	unlockCodes := codes
	unlockCodes.Kind, unlockCodes.Text, unlockCodes.Daily = "unlock-code", app.UnlockCodeText, unlockDaily
	limits := app.Limits{
		Store:     daprx.Store[app.Strikes]{Client: c, Name: cfg.StateStore, TTL: cfg.MaxLock},
		Now:       now,
		LockRules: domain.LockRules{MaxFailures: cfg.MaxFailures, Lock: cfg.Lock, MaxLock: cfg.MaxLock},
	}
	// Failures of a username from every client together: the same store,
	// its own bound and first lock.
	accountLimits := limits
	accountLimits.MaxFailures, accountLimits.Lock = cfg.AccountFailures, cfg.AccountLock
	acc := app.Accounts{
		Users:         daprx.Store[app.User]{Client: c, Name: cfg.StateStore},
		Phones:        daprx.Store[app.PhoneClaim]{Client: c, Name: cfg.StateStore},
		Codes:         codes,
		Limits:        limits,
		AccountLimits: accountLimits,
		UnlockCodes:   unlockCodes,
		// A made-up name is remembered once its password was checked (a
		// hash), as long as the store keeps a known name's strikes.
		UnknownNames: app.NewMemStrikes(50_000, cfg.MaxLock, now),
		Pace:         app.NewPace(),
		Sessions:     daprx.Store[app.Session]{Client: c, Name: cfg.StateStore, TTL: cfg.SessionIdle},
		// A list outlives its newest session by at most a token's life.
		SessionLists:  daprx.Store[app.SessionList]{Client: c, Name: cfg.StateStore, TTL: cfg.TokenLifetime},
		SessionMaxAge: cfg.TokenLifetime,
		Hasher:        ext.Hasher,
		Hashing:       app.NewSlots(cfg.MaxHashing, cfg.MaxHashingPerClient),
		Tokens:        ext.Tokens,
		Now:           now,
		NewID:         ext.NewID,
		NewSecret:     adapters.NewWebhookSecret,
		IdleTimeout:   cfg.SessionIdle,
		Rules:         rules,
		SMSPolicy: app.SMSPolicy{Regions: cfg.TextRegions, Budget: &app.TextBudget{
			Store: daprx.Store[app.Count]{Client: c, Name: cfg.StateStore, TTL: 2 * time.Hour}, Now: now,
			PerHour: cfg.TextBudgetHour, PerClientPerHour: cfg.TextBudgetClient}},
	}
	texts := &app.VoucherTexts{Store: daily.Store, Now: now, PerNumber: cfg.VoucherTextsPerDay}
	deliveries := app.Deliveries{
		Store: daprx.Store[app.Delivery]{Client: c, Name: cfg.DeliveryStore, Outbox: smsEvents},
		Pending: daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: c, Name: cfg.DeliveryStore},
			Name: "pending-webhooks", Shards: 8},
		Users:         acc.Users,
		Webhooks:      ext.Webhooks,
		Now:           now,
		Schedule:      cfg.WebhookSchedule,
		MaxRetryAfter: cfg.MaxRetryAfter,
		Metrics:       webhookMetrics,
		Failures:      sweeps,
		Log:           log,
		// A claim outlives one webhook attempt.
		FirstAttemptLease: cfg.WebhookTimeout + 5*time.Second,
		Lanes: work.NewLanes(cfg.WebhookConcurrency, cfg.WebhookConcurrencyPerCustomer,
			cfg.WebhookTimeout+10*time.Second),
		OverdueAfter:          cfg.WebhookOverdueAfter,
		Counts:                &app.PendingCounts{},
		MaxPendingPerCustomer: cfg.WebhookPendingPerCustomer,
		Texts:                 texts,
	}
	backlog := &app.Backlog{Max: cfg.MaxProcessing, PerCustomer: cfg.MaxProcessingPerCustomer, Forget: time.Minute, RetryAfter: 2 * time.Second, Now: now,
		Recheck: 64, RecheckEvery: 250 * time.Millisecond}
	redrive := daprx.NewSchedule(c, cfg.StateStore, "redrive", holder, cfg.RedriveAfter).LogTo(log).CountTo(sweeps)
	redrive.Now = now
	pur := app.Purchases{
		Backlog:    backlog,
		Requests:   daprx.Store[app.Request]{Client: c, Name: cfg.StateStore, Outbox: requestEvents},
		Vouchers:   ext.Vouchers,
		Deliveries: deliveries,
		Callbacks:  ext.Callbacks,
		Texts:      texts,
		AllowHTTP:  cfg.AllowHTTP,
		Redrive: app.Redrive{
			Schedule:   redrive,
			Requests:   daprx.Store[app.Request]{Client: c, Name: cfg.StateStore},
			Events:     daprx.Publisher{Client: c, PubSub: events.PubSub},
			After:      cfg.RedriveAfter,
			Deliveries: deliveries,
		},
		// Deliveries started at once, beyond the receive-code the broker
		// is delivering; each ends within a webhook attempt.
		Work:      work.NewPool(cfg.DeliveryWorkers, cfg.WebhookTimeout+10*time.Second),
		Now:       now,
		NewID:     ext.NewID,
		LateAfter: cfg.LateAfter,
		Metrics:   purchaseMetrics,
		Log:       log,
	}
	backlog.Finished = pur.Finished
	return Graph{
		Accounts:   acc,
		Purchases:  pur,
		Deliveries: deliveries,
		DeadLetters: app.DeadLetters{
			Store:     daprx.Store[app.DeadLetter]{Client: c, Name: cfg.StateStore},
			Index:     daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: c, Name: cfg.StateStore}, Name: "dead-letters", Shards: 4},
			Publisher: daprx.Publisher{Client: c, PubSub: events.PubSub},
			Now:       now,
			Metrics:   deadLetterMetrics,
		},
		Outboxes:   daprx.Outboxes{requestEvents, smsEvents},
		SweepLease: cfg.WebhookTimeout + 5*time.Second,
	}, nil
}
