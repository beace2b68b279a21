// Package ports holds voucher-int's inbound doors.
package ports

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/services/voucher-int/internal/app"
)

// Routes is the whole surface of voucher-int.
func Routes(log *slog.Logger, a app.App) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /events/request-code", daprx.Topic(log, func(ctx context.Context, _ daprx.Envelope, ev events.RequestCode) error {
		return a.HandleRequestCode(ctx, ev)
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	return mux
}
