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
	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/kit/work"
	identityadapters "github.com/bankabc/vouchers/services/gateway/internal/identity/adapters"
	"github.com/bankabc/vouchers/services/gateway/internal/identity/adapters/openapi"
	identity "github.com/bankabc/vouchers/services/gateway/internal/identity/app"
	identitydomain "github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
	purchaseadapters "github.com/bankabc/vouchers/services/gateway/internal/purchase/adapters"
	purchase "github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
	purchasedomain "github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
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
	Tokens identity.Tokens
	// Vouchers asks the voucher service (service invocation).
	Vouchers purchase.Vouchers
	// SMS confirms what the sms service sent (service invocation).
	SMS daprx.Confirmer
	// Webhooks sends webhook attempts; Callbacks vets callbackUrls.
	Webhooks  purchase.Webhooks
	Callbacks purchase.HostGuard
	Hasher    identity.Hasher
	Now       func() time.Time
	NewID     func() string
	NewCode   func() string
}

// Graph is the built object graph.
type Graph struct {
	Accounts    identity.Accounts
	Purchases   purchase.Purchases
	Deliveries  purchase.Deliveries
	DeadLetters purchase.DeadLetters
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
	guard := purchaseadapters.NetGuard{Allowed: cfg.AllowedNetworks, SystemPorts: cfg.SystemPorts}
	if ext.Vouchers == nil {
		ext.Vouchers = purchaseadapters.Vouchers{Invoker: invoker, AppID: cfg.VoucherAppID}
	}
	if ext.SMS == nil {
		ext.SMS = purchaseadapters.SMSConfirmer{Invoker: invoker, AppID: cfg.SMSAppID}
	}
	if ext.Webhooks == nil {
		ext.Webhooks = purchaseadapters.Webhooks{HTTP: purchaseadapters.GuardedWebhookClient(cfg.WebhookTimeout, guard), Now: time.Now, Log: log}
	}
	if ext.Callbacks == nil {
		ext.Callbacks = guard
	}
	if ext.Hasher == nil {
		ext.Hasher = identityadapters.DefaultArgon2id
	}
	if ext.Now == nil {
		ext.Now = time.Now
	}
	if ext.NewID == nil {
		ext.NewID = httpx.NewID
	}
	if ext.NewCode == nil {
		ext.NewCode = identityadapters.NewSixDigitCode
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
	daily := &identity.DailyCaps{Store: daprx.Store[identity.Count]{Client: c, Name: cfg.StateStore, TTL: 48 * time.Hour}, Now: now,
		PerAccount: cfg.TextsPerDay, PerNumber: cfg.TextsPerNumberDay}
	// Unlock codes have caps of their own: anyone can ask for one, and
	// must not spend the codes an owner needs to verify a number.
	unlockDaily := &identity.DailyCaps{Name: "unlock-texts", Store: daily.Store, Now: now, PerAccount: 3, PerNumber: 3}
	codes := identity.Codes{
		Store:    daprx.Store[identity.PhoneCode]{Client: c, Name: cfg.DeliveryStore, TTL: cfg.CodeTTL, Outbox: smsEvents},
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
	unlockCodes.Kind, unlockCodes.Text, unlockCodes.Daily = "unlock-code", identity.UnlockCodeText, unlockDaily
	limits := identity.Limits{
		Store:     daprx.Store[identity.Strikes]{Client: c, Name: cfg.StateStore, TTL: cfg.MaxLock},
		Now:       now,
		LockRules: identitydomain.LockRules{MaxFailures: cfg.MaxFailures, Lock: cfg.Lock, MaxLock: cfg.MaxLock},
	}
	// Failures of a username from every client together: the same store,
	// its own bound and first lock.
	accountLimits := limits
	accountLimits.MaxFailures, accountLimits.Lock = cfg.AccountFailures, cfg.AccountLock
	acc := identity.Accounts{
		Users:         daprx.Store[identity.User]{Client: c, Name: cfg.StateStore},
		Phones:        daprx.Store[identity.PhoneClaim]{Client: c, Name: cfg.StateStore},
		Codes:         codes,
		Limits:        limits,
		AccountLimits: accountLimits,
		UnlockCodes:   unlockCodes,
		// A made-up name is remembered once its password was checked (a
		// hash), as long as the store keeps a known name's strikes.
		UnknownNames: identity.NewMemStrikes(50_000, cfg.MaxLock, now),
		Pace:         identity.NewPace(),
		Sessions:     daprx.Store[identity.Session]{Client: c, Name: cfg.StateStore, TTL: cfg.SessionIdle},
		// A list outlives its newest session by at most a token's life.
		SessionLists:  daprx.Store[identity.SessionList]{Client: c, Name: cfg.StateStore, TTL: cfg.TokenLifetime},
		SessionMaxAge: cfg.TokenLifetime,
		Hasher:        ext.Hasher,
		Hashing:       identity.NewSlots(cfg.MaxHashing, cfg.MaxHashingPerClient),
		Tokens:        ext.Tokens,
		Now:           now,
		NewID:         ext.NewID,
		NewSecret:     identityadapters.NewWebhookSecret,
		IdleTimeout:   cfg.SessionIdle,
		Rules:         rules,
		SMSPolicy: identity.SMSPolicy{Regions: cfg.TextRegions, Budget: &identity.TextBudget{
			Store: daprx.Store[identity.Count]{Client: c, Name: cfg.StateStore, TTL: 2 * time.Hour}, Now: now,
			PerHour: cfg.TextBudgetHour, PerClientPerHour: cfg.TextBudgetClient}},
	}
	texts := &purchase.VoucherTexts{Store: daprx.Store[purchasedomain.Count]{Client: c, Name: cfg.StateStore, TTL: 48 * time.Hour}, Now: now, PerNumber: cfg.VoucherTextsPerDay}
	deliveries := purchase.Deliveries{
		Store: daprx.Store[purchase.Delivery]{Client: c, Name: cfg.DeliveryStore, Outbox: smsEvents},
		Pending: daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: c, Name: cfg.DeliveryStore},
			Name: "pending-webhooks", Shards: 8},
		Secrets:       identity.WebhookSecrets{Users: acc.Users},
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
		Counts:                &purchase.PendingCounts{},
		MaxPendingPerCustomer: cfg.WebhookPendingPerCustomer,
		Texts:                 texts,
	}
	backlog := &purchase.Backlog{Max: cfg.MaxProcessing, PerCustomer: cfg.MaxProcessingPerCustomer, Forget: time.Minute, RetryAfter: 2 * time.Second, Now: now,
		Recheck: 64, RecheckEvery: 250 * time.Millisecond}
	redrive := daprx.NewSchedule(c, cfg.StateStore, "redrive", holder, cfg.RedriveAfter).LogTo(log).CountTo(sweeps)
	redrive.Now = now
	pur := purchase.Purchases{
		Backlog:    backlog,
		Requests:   daprx.Store[purchase.Request]{Client: c, Name: cfg.StateStore, Outbox: requestEvents},
		Vouchers:   ext.Vouchers,
		Deliveries: deliveries,
		Callbacks:  ext.Callbacks,
		Texts:      texts,
		AllowHTTP:  cfg.AllowHTTP,
		Redrive: purchase.Redrive{
			Schedule:   redrive,
			Requests:   daprx.Store[purchase.Request]{Client: c, Name: cfg.StateStore},
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
		DeadLetters: purchase.DeadLetters{
			Store:     daprx.Store[purchase.DeadLetter]{Client: c, Name: cfg.StateStore},
			Index:     daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: c, Name: cfg.StateStore}, Name: "dead-letters", Shards: 4},
			Publisher: daprx.Publisher{Client: c, PubSub: events.PubSub},
			Now:       now,
			Metrics:   deadLetterMetrics,
		},
		Outboxes:   daprx.Outboxes{requestEvents, smsEvents},
		SweepLease: cfg.WebhookTimeout + 5*time.Second,
	}, nil
}
