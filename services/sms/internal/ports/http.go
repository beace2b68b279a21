// Package ports holds the sms service's inbound doors.
package ports

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/services/sms/internal/app"
)

// Routes is the whole surface of the sms service.
func Routes(log *slog.Logger, a app.App) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /events/send-sms", daprx.Topic(log, func(ctx context.Context, _ daprx.Envelope, m events.SendSMS) error {
		return a.Send(ctx, m)
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	return mux
}
