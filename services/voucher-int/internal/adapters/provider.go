// Package adapters holds voucher-int's outbound doors.
package adapters

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/vpsapi"
	"github.com/bankabc/vouchers/services/voucher-int/internal/app"
)

// Provider calls the Voucher Provider Server through the sidecar (an
// HTTPEndpoint resource named AppID), with a time budget for each call. The
// sidecar's Resiliency policy adds its own timeout and a circuit breaker.
type Provider struct {
	Invoker daprx.Invoker
	AppID   string
	Budget  time.Duration
}

// Request asks for the voucher of requestID. No answer within the budget,
// and any 5xx (daprd reports its own timeout as a 500), are Unavailable:
// the order is not failed by them.
func (p Provider) Request(ctx context.Context, requestID, phone string) (app.Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Budget)
	defer cancel()
	body, _ := json.Marshal(vpsapi.OrderRequest{RequestID: requestID, PhoneNumber: phone})
	resp, err := p.Invoker.Invoke(ctx, p.AppID, http.MethodPost, "api/request/voucher", body,
		http.Header{"Idempotency-Key": {requestID}})
	if err != nil {
		return app.Answer{}, err
	}
	var a vpsapi.OrderAnswer
	switch {
	case resp.Status == http.StatusOK:
		if err := json.Unmarshal(resp.Body, &a); err != nil || a.VoucherCode == "" {
			return app.Answer{}, errs.E(errs.Unavailable, "provider answered 200 without a voucher code")
		}
		return app.Answer{VoucherCode: a.VoucherCode}, nil
	case resp.Status == http.StatusAccepted:
		if err := json.Unmarshal(resp.Body, &a); err != nil || a.CodeChallenge == "" {
			return app.Answer{}, errs.E(errs.Unavailable, "provider acknowledged without a code challenge")
		}
		return app.Answer{CodeChallenge: a.CodeChallenge, TransformMethod: a.TransformMethod}, nil
	case resp.Status >= 500:
		return app.Answer{}, errs.E(errs.Unavailable, "provider answered %d: %.200s", resp.Status, resp.Body)
	default:
		return app.Answer{}, errs.E(errs.Invalid, "provider refused the order: %d %.200s", resp.Status, resp.Body)
	}
}

// Status asks the provider how an order stands.
func (p Provider) Status(ctx context.Context, requestID string) (app.ProviderStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Budget)
	defer cancel()
	resp, err := p.Invoker.Invoke(ctx, p.AppID, http.MethodGet, "api/request/voucher/"+url.PathEscape(requestID), nil, nil)
	if err != nil {
		return app.ProviderStatus{}, err
	}
	switch {
	case resp.Status == http.StatusOK:
		var a vpsapi.OrderAnswer
		if err := json.Unmarshal(resp.Body, &a); err != nil {
			return app.ProviderStatus{}, errs.E(errs.Unavailable, "provider status unreadable")
		}
		return app.ProviderStatus{Found: true, Status: a.Status, VoucherCode: a.VoucherCode}, nil
	case resp.Status == http.StatusNotFound:
		return app.ProviderStatus{Found: false}, nil
	default:
		return app.ProviderStatus{}, errs.E(errs.Unavailable, "provider status answered %d", resp.Status)
	}
}

var _ app.Provider = Provider{}
