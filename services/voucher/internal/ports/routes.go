// Package ports holds voucher's inbound doors.
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

func Routes(log *slog.Logger, a app.App) http.Handler {
	r := service.NewRoutes(log)
	r.Topic(events.PubSub, "/events/receive-code", daprx.TopicHandler(log, func(ctx context.Context, _ daprx.Envelope, ev events.ReceiveCode) error {
		return a.Store(ctx, ev)
	}), events.TopicReceiveCode)
	r.Invoked(http.MethodGet, "/vouchers", handleListVouchers(log, a), GatewayAppID)
	r.Invoked(http.MethodGet, "/vouchers/{requestId}", handleGetVoucher(log, a), GatewayAppID)
	return r
}

// GatewayAppID alone may read vouchers: it checks ownership first.
const GatewayAppID = "gateway"

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
	NextCursor  string          `json:"nextCursor,omitempty"`
}

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

// handleGetVoucher lets gateway confirm a voucher is stored before it
// tells the customer SUCCESS. With ?wait=1s it waits that long for a
// voucher not stored yet, so gateway asks once instead of polling.
func handleGetVoucher(log *slog.Logger, a app.App) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var wait time.Duration
		if raw := r.URL.Query().Get("wait"); raw != "" {
			d, err := time.ParseDuration(raw)
			if err != nil || d < 0 {
				httpx.WriteError(w, r, log, errs.E(errs.Invalid, "wait must be a duration such as 1s, at most %s", app.MaxWait))
				return
			}
			wait = d
		}
		v, err := a.Await(r.Context(), r.PathValue("requestId"), wait)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		httpx.Encode(w, http.StatusOK, answerOf(v))
	})
}
