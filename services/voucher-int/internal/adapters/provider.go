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

// Provider calls the Voucher Provider Server through the sidecar.
// Status reads use StatusAppID, an endpoint without the circuit breaker:
// daprd counts the provider's 404 as a failure, and a breaker probed by
// such reads never closed again after an outage.
type Provider struct {
	Invoker     daprx.Invoker
	AppID       string
	StatusAppID string
	Budget      time.Duration
	Metrics     CallMetrics
}

type CallMetrics interface {
	ProviderCall(operation, outcome string, d time.Duration)
}

// Outcomes of a call, as CallMetrics labels them.
const (
	outcomeCode        = "code"
	outcomeAck         = "ack"
	outcomeFound       = "found"
	outcomeNotFound    = "not_found"
	outcomeTimeout     = "timeout"
	outcomeUnavailable = "unavailable"
	outcomeRefused     = "refused"
)

func (p Provider) observe(operation, outcome string, start time.Time) {
	if p.Metrics != nil {
		p.Metrics.ProviderCall(operation, outcome, time.Since(start))
	}
}

// failure tells a timeout from a 5xx. daprd reports its own timeout as a
// 500 saying "deadline exceeded".
func failure(ctx context.Context, resp daprx.Response, err error) string {
	if ctx.Err() != nil || (err == nil && bytes.Contains(resp.Body, []byte("deadline exceeded"))) {
		return outcomeTimeout
	}
	return outcomeUnavailable
}

// Request sends requestID as the idempotency key, so asking again never
// buys twice.
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
