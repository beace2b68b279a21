// Package ports holds the service's inbound doors: HTTP routes and topic
// handlers.
package ports

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/voucher/internal/app"
	"github.com/bankabc/vouchers/services/voucher/internal/domain"
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

// voucherAnswer is a voucher as gateway reads it.
type voucherAnswer struct {
	RequestID   string    `json:"requestId"`
	PhoneNumber string    `json:"phoneNumber"`
	VoucherCode string    `json:"voucherCode"`
	Status      string    `json:"status"`
	RequestedAt time.Time `json:"requestedAt"`
	IssuedAt    time.Time `json:"issuedAt"`
}

func answerOf(v domain.Voucher) voucherAnswer {
	return voucherAnswer{RequestID: v.RequestID, PhoneNumber: v.PhoneNumber, VoucherCode: v.VoucherCode,
		Status: string(v.Status), RequestedAt: v.RequestedAt, IssuedAt: v.IssuedAt}
}

type voucherList struct {
	PhoneNumber string          `json:"phoneNumber"`
	Vouchers    []voucherAnswer `json:"vouchers"`
	// NextCursor lists the older vouchers; absent on the last page.
	NextCursor string `json:"nextCursor,omitempty"`
}

// handleListVouchers is called by gateway through service invocation, after
// gateway has checked that the number is the caller's own. It answers one
// page: ?limit= (1 to 100, 50 by default) vouchers from ?cursor= (the
// nextCursor of the page before).
func handleListVouchers(log *slog.Logger, a app.App) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		qs := r.URL.Query()
		phone := qs.Get("phoneNumber")
		q := app.ListQuery{Cursor: qs.Get("cursor")}
		if qs.Has("limit") {
			n, err := strconv.Atoi(qs.Get("limit"))
			if err != nil || n == 0 {
				// 0 would read as "not asked".
				httpx.WriteError(w, r, log, errs.E(errs.Invalid, "limit must be a whole number from 1 to %d", domain.MaxLimit))
				return
			}
			q.Limit = n
		}
		page, err := a.ByPhone(r.Context(), phone, q)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		list := voucherList{PhoneNumber: phone, Vouchers: make([]voucherAnswer, 0, len(page.Vouchers)), NextCursor: page.Next}
		for _, v := range page.Vouchers {
			list.Vouchers = append(list.Vouchers, answerOf(v))
		}
		httpx.Encode(w, http.StatusOK, list)
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
		httpx.Encode(w, http.StatusOK, answerOf(v))
	})
}
