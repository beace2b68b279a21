// Package wiring builds sms's object graph from its settings, for run and
// for the tests alike.
package wiring

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/metrics"
	"github.com/bankabc/vouchers/services/sms/internal/adapters"
	"github.com/bankabc/vouchers/services/sms/internal/app"
)

type Client interface {
	daprx.StateClient
	adapters.BindingInvoker
}

// Externals replace real adapters in tests; nil fields get the real ones.
type Externals struct {
	Sender app.Sender
	Now    func() time.Time
}

func Build(c Client, cfg Config, ext Externals, _ *slog.Logger, reg prometheus.Registerer) app.App {
	if ext.Sender == nil {
		ext.Sender = adapters.Binding{Client: c, Name: cfg.Binding}
	}
	if ext.Now == nil {
		ext.Now = time.Now
	}
	return app.App{
		Sent:    adapters.NewSentStore(c, cfg.StateStore),
		Sender:  ext.Sender,
		Now:     ext.Now,
		Metrics: metrics.NewSMS(reg),
	}
}
