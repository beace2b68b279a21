// Package adapters holds voucher-int's outbound doors.
package adapters

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/bankabc/vouchers/api/vpsapi"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/services/voucher-int/internal/app"
	"github.com/bankabc/vouchers/services/voucher-int/internal/domain"
)

// Provider calls the Voucher Provider Server through the sidecar (an
// HTTPEndpoint resource named AppID), with a time budget for each call. The
// sidecar's Resiliency policy adds its own timeout and a circuit breaker.
// Status reads go through StatusAppID, another HTTPEndpoint to the same
// server without the breaker: the provider answers 404 for an order it
// never recorded, daprd counts that as a failure, and a breaker whose
// half-open probe is such a read never closed again after an outage (the
// fault suite's provider-hang case: every order failed at its deadline).
type Provider struct {
	Invoker     daprx.Invoker
	AppID       string
	StatusAppID string
	Budget      time.Duration
	// Metrics times each call (nil: none).
	Metrics CallMetrics
}

// CallMetrics records one call to the provider: operation "order" or
// "status", its outcome, and how long it took (kit/metrics.Provider).
type CallMetrics interface {
	ProviderCall(operation, outcome string, d time.Duration)
}

// Outcomes of a call, as CallMetrics records them.
const (
	outcomeCode        = "code"        // an order answered with its code
	outcomeAck         = "ack"         // an order acknowledged: the code comes later
	outcomeFound       = "found"       // a status answered
	outcomeNotFound    = "not_found"   // the provider has no such order
	outcomeTimeout     = "timeout"     // no answer within the budget (ours or daprd's)
	outcomeUnavailable = "unavailable" // 5xx, or an answer we cannot use
	outcomeRefused     = "refused"     // 4xx: the provider refused the order
)

// observe records a call that started at start.
func (p Provider) observe(operation, outcome string, start time.Time) {
	if p.Metrics != nil {
		p.Metrics.ProviderCall(operation, outcome, time.Since(start))
	}
}

// failure names the outcome of a call that got no usable answer: a
// transport error or a 5xx. daprd reports its own Resiliency timeout as a
// 500 saying "deadline exceeded".
func failure(ctx context.Context, resp daprx.Response, err error) string {
	if ctx.Err() != nil || (err == nil && bytes.Contains(resp.Body, []byte("deadline exceeded"))) {
		return outcomeTimeout
	}
	return outcomeUnavailable
}

// Request asks for the voucher of requestID. No answer within the budget,
// and any 5xx (daprd reports its own timeout as a 500), are Unavailable:
// the order is not failed by them.
func (p Provider) Request(ctx context.Context, requestID, phone string) (app.Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Budget)
	defer cancel()
	start := time.Now()
	body, _ := json.Marshal(vpsapi.OrderRequest{RequestID: requestID, PhoneNumber: phone})
	resp, err := p.Invoker.Invoke(ctx, p.AppID, http.MethodPost, "api/request/voucher", body,
		http.Header{"Idempotency-Key": {requestID}})
	if err != nil {
		p.observe("order", failure(ctx, resp, err), start)
		return app.Answer{}, err
	}
	var a vpsapi.OrderAnswer
	switch {
	case resp.Status == http.StatusOK:
		if err := json.Unmarshal(resp.Body, &a); err != nil || a.VoucherCode == "" {
			p.observe("order", outcomeUnavailable, start)
			return app.Answer{}, errs.E(errs.Unavailable, "provider answered 200 without a voucher code")
		}
		p.observe("order", outcomeCode, start)
		return app.Answer{VoucherCode: a.VoucherCode}, nil
	case resp.Status == http.StatusAccepted:
		if err := json.Unmarshal(resp.Body, &a); err != nil || a.CodeChallenge == "" {
			p.observe("order", outcomeUnavailable, start)
			return app.Answer{}, errs.E(errs.Unavailable, "provider acknowledged without a code challenge")
		}
		p.observe("order", outcomeAck, start)
		return app.Answer{CodeChallenge: a.CodeChallenge, TransformMethod: a.TransformMethod}, nil
	case resp.Status >= 500:
		p.observe("order", failure(ctx, resp, nil), start)
		return app.Answer{}, errs.E(errs.Unavailable, "provider answered %d: %.200s", resp.Status, resp.Body)
	default:
		p.observe("order", outcomeRefused, start)
		return app.Answer{}, errs.E(errs.Invalid, "provider refused the order: %d %.200s", resp.Status, resp.Body)
	}
}

// Status asks the provider how an order stands.
func (p Provider) Status(ctx context.Context, requestID string) (domain.ProviderStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Budget)
	defer cancel()
	start := time.Now()
	target := p.StatusAppID
	if target == "" {
		target = p.AppID
	}
	resp, err := p.Invoker.Invoke(ctx, target, http.MethodGet, "api/request/voucher/"+url.PathEscape(requestID), nil, nil)
	if err != nil {
		p.observe("status", failure(ctx, resp, err), start)
		return domain.ProviderStatus{}, err
	}
	switch {
	case resp.Status == http.StatusOK:
		var a vpsapi.OrderAnswer
		if err := json.Unmarshal(resp.Body, &a); err != nil {
			p.observe("status", outcomeUnavailable, start)
			return domain.ProviderStatus{}, errs.E(errs.Unavailable, "provider status unreadable")
		}
		p.observe("status", outcomeFound, start)
		return domain.ProviderStatus{Found: true, Status: a.Status, VoucherCode: a.VoucherCode}, nil
	case resp.Status == http.StatusNotFound:
		p.observe("status", outcomeNotFound, start)
		return domain.ProviderStatus{Found: false}, nil
	default:
		p.observe("status", failure(ctx, resp, nil), start)
		return domain.ProviderStatus{}, errs.E(errs.Unavailable, "provider status answered %d", resp.Status)
	}
}

var _ app.Provider = Provider{}
