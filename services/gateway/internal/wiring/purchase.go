package wiring

import (
	"log/slog"
	"time"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/work"
	purchaseadapters "github.com/bankabc/vouchers/services/gateway/internal/purchase/adapters"
	purchase "github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
)

func newVoucherTexts(c Client, cfg Config, now func() time.Time) *purchase.VoucherTexts {
	return &purchase.VoucherTexts{Store: purchaseadapters.Counts(daprx.Store[purchaseadapters.CountRecord]{Client: c, Name: cfg.StateStore, TTL: 48 * time.Hour}),
		Now: now, PerNumber: cfg.VoucherTextsPerDay}
}

func newDeliveries(c Client, cfg Config, ext Externals, smsEvents *daprx.Outbox, secrets purchase.WebhookSecrets,
	texts *purchase.VoucherTexts, m metrics.Webhooks, sweeps metrics.Sweeps, log *slog.Logger) purchase.Deliveries {
	return purchase.Deliveries{
		Store: purchaseadapters.Deliveries(daprx.Store[purchaseadapters.DeliveryRecord]{Client: c, Name: cfg.DeliveryStore, TTL: cfg.DeliveryRetention, Outbox: smsEvents}),
		Pending: daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: c, Name: cfg.DeliveryStore},
			Name: "pending-webhooks", Shards: 8},
		Secrets:       secrets,
		Webhooks:      ext.Webhooks,
		Codec:         purchaseadapters.WebhookJSON{},
		Now:           ext.Now,
		Schedule:      cfg.WebhookSchedule,
		MaxRetryAfter: cfg.MaxRetryAfter,
		Metrics:       m,
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
}

func newRedrive(c Client, cfg Config, holder string, now func() time.Time, deliveries purchase.Deliveries,
	sweeps metrics.Sweeps, log *slog.Logger) purchase.Redrive {
	schedule := daprx.NewSchedule(c, cfg.StateStore, "redrive", holder, cfg.RedriveAfter).LogTo(log).CountTo(sweeps)
	schedule.Now = now
	return purchase.Redrive{
		Schedule:   schedule,
		Requests:   purchaseadapters.Requests(daprx.Store[purchaseadapters.RequestRecord]{Client: c, Name: cfg.StateStore}),
		Events:     daprx.Publisher{Client: c, PubSub: events.PubSub},
		After:      cfg.RedriveAfter,
		Deliveries: deliveries,
	}
}

func newPurchases(c Client, cfg Config, ext Externals, requestEvents *daprx.Outbox, deliveries purchase.Deliveries,
	texts *purchase.VoucherTexts, redrive purchase.Redrive, m metrics.Purchases, log *slog.Logger) purchase.Purchases {
	backlog := &purchase.Backlog{Max: cfg.MaxProcessing, PerCustomer: cfg.MaxProcessingPerCustomer, Forget: time.Minute,
		RetryAfter: 2 * time.Second, Now: ext.Now, Recheck: 64, RecheckEvery: 250 * time.Millisecond}
	pur := purchase.Purchases{
		Backlog:    backlog,
		Requests:   purchaseadapters.Requests(daprx.Store[purchaseadapters.RequestRecord]{Client: c, Name: cfg.StateStore, Outbox: requestEvents}),
		Vouchers:   ext.Vouchers,
		Deliveries: deliveries,
		Callbacks:  ext.Callbacks,
		Texts:      texts,
		AllowHTTP:  cfg.AllowHTTP,
		Redrive:    redrive,
		// Beyond the receive-code in hand; each ends within a webhook attempt.
		Work:      work.NewPool(cfg.DeliveryWorkers, cfg.WebhookTimeout+10*time.Second),
		Now:       ext.Now,
		NewID:     ext.NewID,
		LateAfter: cfg.LateAfter,
		Metrics:   m,
		Log:       log,
	}
	backlog.Finished = pur.Finished
	return pur
}

func newDeadLetters(c Client, cfg Config, now func() time.Time, m metrics.DeadLetters) purchase.DeadLetters {
	return purchase.DeadLetters{
		Store:     purchaseadapters.DeadLetters(daprx.Store[purchaseadapters.DeadLetterRecord]{Client: c, Name: cfg.StateStore}),
		Index:     daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: c, Name: cfg.StateStore}, Name: "dead-letters", Shards: 4},
		Publisher: daprx.Publisher{Client: c, PubSub: events.PubSub},
		Now:       now,
		Metrics:   m,
	}
}
