// Package wiring builds voucher's object graph from its settings, for run
// and for the tests alike.
package wiring

import (
	"log/slog"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/services/voucher/internal/adapters"
	"github.com/bankabc/vouchers/services/voucher/internal/app"
)

func Build(c daprx.StateClient, cfg Config, log *slog.Logger) app.App {
	return app.App{
		Vouchers: adapters.NewVouchers(c, cfg.StateStore),
		Indexes:  adapters.NewIndexes(c, cfg.StateStore),
		Heads:    adapters.NewHeads(c, cfg.StateStore),
		Log:      log,
		Arrivals: app.NewArrivals(),
	}
}
