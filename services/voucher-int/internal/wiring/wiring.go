// Package wiring builds voucher-int's object graph from its settings, for
// run and for the tests alike.
package wiring

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/kit/work"
	"github.com/bankabc/vouchers/services/voucher-int/internal/adapters"
	"github.com/bankabc/vouchers/services/voucher-int/internal/app"
)

// Externals replace real adapters in tests; nil fields get the real ones.
type Externals struct {
	Provider app.Provider
	Now      func() time.Time
}

type Graph struct {
	App      app.App
	Outboxes daprx.Outboxes
}

func Build(c daprx.OutboxClient, cfg Config, ext Externals, log *slog.Logger, reg prometheus.Registerer) Graph {
	sweeps := metrics.NewSweeps(reg)
	if ext.Provider == nil {
		ext.Provider = adapters.Provider{
			Invoker:     daprx.Invoker{SidecarURL: cfg.Sidecar.URL(), Token: cfg.Sidecar.Token},
			AppID:       cfg.ProviderAppID,
			StatusAppID: cfg.ProviderStatusID,
			Budget:      cfg.ProviderBudget,
			Metrics:     metrics.NewProvider(reg),
		}
	}
	if ext.Now == nil {
		ext.Now = time.Now
	}
	instance := service.InstanceName("voucher-int")
	outbox := daprx.NewOutbox(c, cfg.StateStore, events.PubSub, instance, cfg.RelayAfter, log)
	outbox.Intents.Failures = sweeps
	outbox.Intents.Now = ext.Now
	due := daprx.NewSchedule(c, cfg.StateStore, "due-orders", instance, cfg.RecheckEvery).LogTo(log).CountTo(sweeps)
	due.Now = ext.Now
	return Graph{
		App: app.App{
			Orders:       adapters.NewOrders(c, cfg.StateStore, outbox),
			Pending:      daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: c, Name: cfg.StateStore}, Name: "pending-orders", Shards: 16},
			Due:          due,
			Provider:     ext.Provider,
			Outcomes:     daprx.Publisher{Client: c, PubSub: events.PubSub},
			Now:          ext.Now,
			LateAfter:    cfg.LateAfter,
			Deadline:     cfg.OrderDeadline,
			RecheckEvery: cfg.RecheckEvery,
			// A claim outlives one provider call, so two replicas never
			// ask about the same order at once.
			Lease:    2*cfg.ProviderBudget + time.Second,
			Instance: httpx.NewID(),
			Work:     work.NewPool(cfg.OrderWorkers, 2*cfg.ProviderBudget+5*time.Second),
			Log:      log,
			Failures: sweeps,
		},
		Outboxes: daprx.Outboxes{outbox},
	}
}
