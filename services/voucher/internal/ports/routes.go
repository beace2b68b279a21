// Package ports holds the service's inbound doors: HTTP routes and topic
// handlers.
package ports

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/voucher/internal/app"
)

// Routes is the whole surface of the voucher service, all of it called by
// its sidecar (service.Faces.Sidecar): the receive-code delivery, and the
// voucher reads that gateway alone makes through service invocation.
func Routes(log *slog.Logger, a app.App) http.Handler {
	r := service.NewRoutes(log)
	r.Topic(events.PubSub, "/events/receive-code", daprx.TopicHandler(log, func(ctx context.Context, _ daprx.Envelope, ev events.ReceiveCode) error {
		return a.Store(ctx, ev)
	}), events.TopicReceiveCode)
	r.Invoked(http.MethodGet, "/vouchers", handleListVouchers(log, a), GatewayAppID)
	r.Invoked(http.MethodGet, "/vouchers/{requestId}", handleGetVoucher(log, a), GatewayAppID)
	return r
}

// GatewayAppID is the one app that may read vouchers: it checks that the
// number is its customer's own first.
const GatewayAppID = "gateway"

type voucherList struct {
	PhoneNumber string        `json:"phoneNumber"`
	Vouchers    []app.Voucher `json:"vouchers"`
}

// handleListVouchers is called by gateway through service invocation, after
// gateway has checked that the number is the caller's own.
func handleListVouchers(log *slog.Logger, a app.App) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		phone := r.URL.Query().Get("phoneNumber")
		vs, err := a.ByPhone(r.Context(), phone)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		httpx.Encode(w, http.StatusOK, voucherList{PhoneNumber: phone, Vouchers: vs})
	})
}

// handleGetVoucher lets gateway confirm that a request's voucher is stored
// before it tells the customer the purchase succeeded.
func handleGetVoucher(log *slog.Logger, a app.App) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := a.ByRequest(r.Context(), r.PathValue("requestId"))
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		httpx.Encode(w, http.StatusOK, v)
	})
}
