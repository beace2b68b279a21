// Package wiring builds gateway's object graph. main and the handler tests
// both build it here; tests pass doubles for Externals.
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
	identityadapters "github.com/bankabc/vouchers/services/gateway/internal/identity/adapters"
	"github.com/bankabc/vouchers/services/gateway/internal/identity/adapters/openapi"
	identity "github.com/bankabc/vouchers/services/gateway/internal/identity/app"
	purchaseadapters "github.com/bankabc/vouchers/services/gateway/internal/purchase/adapters"
	purchase "github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
)

// Client is the part of the Dapr client the graph uses.
type Client interface {
	daprx.OutboxClient
}

// Externals are what lies outside the process besides the sidecar. Tokens
// is required; other nil fields get the real adapter.
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
	// SweepLease outlasts one webhook attempt.
	SweepLease time.Duration
}

// Build wires the graph over c with cfg, reporting to reg.
func Build(c Client, cfg Config, ext Externals, log *slog.Logger, reg prometheus.Registerer) (Graph, error) {
	rules, err := openapi.AccountRules(api.MustLoad())
	if err != nil {
		return Graph{}, err
	}
	ext = ext.orDefaults(cfg, log)
	sweeps := metrics.NewSweeps(reg)
	holder := service.InstanceName("gateway")
	// send-sms records stay in the outbox until sms confirms them.
	requestEvents := newOutbox(c, cfg, cfg.StateStore, holder, ext.Now, sweeps, log)
	smsEvents := newOutbox(c, cfg, cfg.DeliveryStore, holder, ext.Now, sweeps, log)
	smsEvents.Confirm = map[string]daprx.Confirmation{events.TopicSendSMS: {After: cfg.SMSConfirmAfter, Confirmer: ext.SMS}}

	acc := newAccounts(c, cfg, ext, rules, smsEvents)
	texts := newVoucherTexts(c, cfg, ext.Now)
	deliveries := newDeliveries(c, cfg, ext, smsEvents, identity.WebhookSecrets{Users: acc.Users}, texts,
		metrics.NewWebhooks(reg), sweeps, log)
	redrive := newRedrive(c, cfg, holder, ext.Now, deliveries, sweeps, log)
	pur := newPurchases(c, cfg, ext, requestEvents, deliveries, texts, redrive, metrics.NewPurchases(reg), log)
	return Graph{
		Accounts:    acc,
		Purchases:   pur,
		Deliveries:  deliveries,
		DeadLetters: newDeadLetters(c, cfg, ext.Now, metrics.NewDeadLetters(reg)),
		Outboxes:    daprx.Outboxes{requestEvents, smsEvents},
		SweepLease:  cfg.WebhookTimeout + 5*time.Second,
	}, nil
}

func (ext Externals) orDefaults(cfg Config, log *slog.Logger) Externals {
	invoker := daprx.Invoker{SidecarURL: cfg.Sidecar.URL(), Token: cfg.Sidecar.Token}
	guard := purchaseadapters.NetGuard{Allowed: cfg.AllowedNetworks, SystemPorts: cfg.SystemPorts}
	if ext.Vouchers == nil {
		ext.Vouchers = purchaseadapters.Vouchers{Invoker: invoker, AppID: cfg.VoucherAppID, Wait: time.Second}
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
	return ext
}

func newOutbox(c Client, cfg Config, store, holder string, now func() time.Time, sweeps metrics.Sweeps, log *slog.Logger) *daprx.Outbox {
	o := daprx.NewOutbox(c, store, events.PubSub, holder, cfg.RelayAfter, log)
	o.Intents.CountTo(sweeps)
	o.Intents.Now = now
	return o
}
