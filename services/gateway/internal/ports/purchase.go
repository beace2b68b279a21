package ports

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
	purchase "github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
	purchasedomain "github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

type purchaseBody struct {
	PhoneNumber string `json:"phoneNumber"`
	CallbackURL string `json:"callbackUrl,omitempty"`
}

type requestView struct {
	RequestID   string        `json:"requestId"`
	Status      string        `json:"status"`
	State       int           `json:"state"`
	Progress    int           `json:"progress"`
	Message     string        `json:"message,omitempty"`
	PhoneNumber string        `json:"phoneNumber"`
	CallbackURL string        `json:"callbackUrl,omitempty"`
	VoucherCode string        `json:"voucherCode,omitempty"`
	Reason      string        `json:"reason,omitempty"`
	CreatedAt   string        `json:"createdAt"`
	UpdatedAt   string        `json:"updatedAt"`
	CompletedAt string        `json:"completedAt,omitempty"`
	Delivery    *deliveryView `json:"delivery,omitempty"`
}

type deliveryView struct {
	Channel     string `json:"channel"`
	Status      string `json:"status"`
	Attempts    int    `json:"attempts"`
	FellBack    bool   `json:"fellBackToSms,omitempty"`
	LastError   string `json:"lastError,omitempty"`
	DeliveredAt string `json:"deliveredAt,omitempty"`
}

const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func viewOf(req purchasedomain.Request, d *purchasedomain.Delivery, promise string) requestView {
	v := requestView{RequestID: req.RequestID, Status: string(req.Status), State: int(req.State), Progress: req.Progress,
		PhoneNumber: req.PhoneNumber, CallbackURL: req.CallbackURL, VoucherCode: req.VoucherCode, Reason: req.Reason,
		CreatedAt: req.CreatedAt.UTC().Format(timeFormat), UpdatedAt: req.UpdatedAt.UTC().Format(timeFormat)}
	if req.CompletedAt != nil {
		v.CompletedAt = req.CompletedAt.UTC().Format(timeFormat)
	}
	if req.State == purchasedomain.StateProcessing {
		v.Message = promise
	}
	if d != nil {
		v.Delivery = &deliveryView{Channel: string(d.Channel), Status: string(d.Status), Attempts: d.Attempts, FellBack: d.FellBack, LastError: d.LastError}
		if d.DeliveredAt != nil {
			v.Delivery.DeliveredAt = d.DeliveredAt.UTC().Format(timeFormat)
		}
	}
	return v
}

// handleCreatePurchase also takes the original design's query string
// when there is no body.
func handleCreatePurchase(log *slog.Logger, pur purchase.Purchases) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in purchaseBody
		var err error
		q := r.URL.Query()
		inQuery := q.Has("phoneNumber") || q.Has("callbackUrl")
		switch {
		case r.ContentLength == 0 && inQuery:
			in = purchaseBody{PhoneNumber: q.Get("phoneNumber"), CallbackURL: q.Get("callbackUrl")}
		case inQuery:
			httpx.WriteProblem(w, r, errs.E(errs.Invalid, "send phoneNumber and callbackUrl in the JSON body or in the query string, not both"))
			return
		default:
			in, err = httpx.Decode[purchaseBody](r)
		}
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		req, replayed, err := pur.Create(r.Context(), sessionOf(r).Customer(), purchase.PurchaseInput(in), r.Header.Get("Idempotency-Key"))
		if err != nil {
			httpx.WriteError(w, r, log, withVerifyHint(err))
			return
		}
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		w.Header().Set("Location", "/voucher/requests/"+req.RequestID)
		// A replay of a finished request tells its outcome, not a promise.
		promise, retry := pur.Promise(req)
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		httpx.Encode(w, http.StatusAccepted, viewOf(req, nil, promise))
	})
}

func handleGetRequest(log *slog.Logger, pur purchase.Purchases) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, d, err := pur.Get(r.Context(), sessionOf(r).Customer(), r.PathValue("requestId"))
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		promise, retry := pur.Promise(req)
		if req.State == purchasedomain.StateProcessing {
			w.Header().Set("Retry-After", strconv.Itoa(retry))
		}
		httpx.Encode(w, http.StatusOK, viewOf(req, d, promise))
	})
}

func handleListVouchers(log *slog.Logger, pur purchase.Purchases) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		page := purchase.VoucherPage{Cursor: q.Get("cursor")}
		if q.Has("limit") {
			// The document lets only 1 to 100 through.
			n, err := strconv.Atoi(q.Get("limit"))
			if err != nil {
				httpx.WriteError(w, r, log, errs.E(errs.Invalid, "limit must be a whole number from 1 to 100"))
				return
			}
			page.Limit = n
		}
		list, err := pur.VouchersOf(r.Context(), sessionOf(r).Customer(), q.Get("phoneNumber"), page)
		if err != nil {
			httpx.WriteError(w, r, log, withVerifyHint(err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(list)
	})
}

func withVerifyHint(err error) error {
	if errors.Is(err, purchase.ErrPhoneNotVerified) {
		return errs.E(errs.Forbidden, "verify your phone number first: POST /user/phone/verify with the code we sent by SMS")
	}
	return err
}
