// Package wiring builds the provider fake's object graph from its
// settings, for run and for the tests alike.
package wiring

import (
	"context"
	"log/slog"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/adapters"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/vps"
)

// Build sends callbacks until ctx ends.
func Build(ctx context.Context, cfg Config, log *slog.Logger, now func() time.Time) *vps.Provider {
	cb := &adapters.Callbacks{
		Ctx: ctx, Log: log, Invoker: daprx.Invoker{SidecarURL: cfg.Sidecar.URL(), Token: cfg.Sidecar.Token},
		AppID: cfg.CallbackAppID, Path: cfg.CallbackPath,
	}
	p := vps.New(cfg.VPS, now, cb.Schedule)
	cb.Delivered = p.CallbackDelivered
	return p
}
