// Package wiring builds voucher's object graph from its settings, for run
// and for the tests alike.
package wiring

import (
	"log/slog"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/services/voucher/internal/app"
)

// Build wires the use cases over c's state store.
func Build(c daprx.StateClient, cfg Config, log *slog.Logger) app.App {
	return app.App{
		Vouchers: daprx.Store[app.Voucher]{Client: c, Name: cfg.StateStore},
		Indexes:  daprx.Store[app.PhoneIndex]{Client: c, Name: cfg.StateStore},
		Heads:    daprx.Store[app.PhoneHead]{Client: c, Name: cfg.StateStore},
		Log:      log,
	}
}
