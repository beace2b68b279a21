// Package ports holds the provider fake's HTTP surface.
package ports

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/bankabc/vouchers/api/vpsapi"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/vps"
)

// Routes puts the test controls behind adminToken: the order listing shows
// code verifiers, with which anyone could forge a late callback.
func Routes(log *slog.Logger, p *vps.Provider, adminToken string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /api/request/voucher", handleRequestVoucher(log, p))
	mux.Handle("GET /api/request/voucher/{requestId}", handleGetOrder(log, p))
	mux.Handle("GET /api/orders", service.SidecarOnly(log, adminToken, handleListOrders(p)))
	mux.Handle("POST /api/admin/outage", service.SidecarOnly(log, adminToken, handleOutage(log, p)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	return mux
}

func handleRequestVoucher(log *slog.Logger, p *vps.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := httpx.Decode[vpsapi.OrderRequest](r)
		if err == nil && (req.RequestID == "" || req.PhoneNumber == "") {
			err = errs.E(errs.Invalid, "requestId and phoneNumber are required")
		}
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		a := p.Request(req.RequestID, req.PhoneNumber)
		if a.HoldFor > 0 {
			select {
			case <-time.After(a.HoldFor):
			case <-r.Context().Done():
				return
			}
		}
		switch a.Kind {
		case vps.AnswerError, vps.AnswerOutageHang:
			httpx.WriteError(w, r, log, errs.E(errs.Unavailable, "provider temporarily unavailable"))
		case vps.AnswerAck:
			httpx.Encode(w, http.StatusAccepted, vpsapi.OrderAnswer{RequestID: req.RequestID, Status: string(vps.StatusPending),
				CodeChallenge: a.CodeChallenge, TransformMethod: a.TransformMethod,
				Message: "The voucher code will be sent to your callback when it is ready"})
		case vps.AnswerHang:
			// Recovered while holding: answer as the order now stands.
			o, _ := p.Get(req.RequestID)
			httpx.Encode(w, http.StatusOK, vpsapi.OrderAnswer{RequestID: o.RequestID, Status: string(o.Status), VoucherCode: o.VoucherCode})
		case vps.AnswerCode:
			httpx.Encode(w, http.StatusOK, vpsapi.OrderAnswer{RequestID: a.Order.RequestID, Status: string(a.Order.Status), VoucherCode: a.Order.VoucherCode})
		}
	})
}

func handleGetOrder(log *slog.Logger, p *vps.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, down := p.OutageAnswer(); down {
			select {
			case <-time.After(a.HoldFor):
			case <-r.Context().Done():
				return
			}
			httpx.WriteError(w, r, log, errs.E(errs.Unavailable, "provider temporarily unavailable"))
			return
		}
		o, ok := p.Get(r.PathValue("requestId"))
		if !ok {
			httpx.WriteError(w, r, log, errs.E(errs.NotFound, "no order with that requestId"))
			return
		}
		httpx.Encode(w, http.StatusOK, vpsapi.OrderAnswer{RequestID: o.RequestID, Status: string(o.Status), VoucherCode: o.VoucherCode})
	})
}

// orderView's shape is read by the suites.
type orderView struct {
	RequestID    string    `json:"requestId"`
	PhoneNumber  string    `json:"phoneNumber"`
	Mode         string    `json:"mode"`
	Status       string    `json:"status"`
	VoucherCode  string    `json:"voucherCode,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	Calls        int       `json:"calls"`
	CodesIssued  int       `json:"codesIssued"`
	Callbacks    int       `json:"callbacks"`
	CodeVerifier string    `json:"codeVerifier,omitempty"`
}

func viewOf(o vps.Order) orderView {
	return orderView{RequestID: o.RequestID, PhoneNumber: o.PhoneNumber, Mode: string(o.Mode), Status: string(o.Status),
		VoucherCode: o.VoucherCode, CreatedAt: o.CreatedAt, Calls: o.Calls, CodesIssued: o.CodesIssued,
		Callbacks: o.Callbacks, CodeVerifier: o.CodeVerifier}
}

func handleListOrders(p *vps.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		orders := p.Orders()
		out := make([]orderView, 0, len(orders))
		for _, o := range orders {
			out = append(out, viewOf(o))
		}
		httpx.Encode(w, http.StatusOK, out)
	})
}

type outageInput struct {
	Mode    string  `json:"mode"`
	Seconds float64 `json:"seconds"`
}

func handleOutage(log *slog.Logger, p *vps.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpx.Decode[outageInput](r)
		if err == nil {
			err = p.Outage(vps.Mode(in.Mode), time.Duration(in.Seconds*float64(time.Second)))
			if err != nil {
				err = errs.E(errs.Invalid, "%s", err.Error())
			}
		}
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		log.Warn("outage started", "mode", in.Mode, "seconds", in.Seconds)
		w.WriteHeader(http.StatusNoContent)
	})
}
