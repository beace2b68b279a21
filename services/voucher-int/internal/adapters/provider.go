// Package adapters holds voucher-int's outbound doors.
package adapters

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/services/voucher-int/internal/app"
)

// Provider calls the Voucher Provider Server through the sidecar's service
// invocation, with a time budget for each call.
type Provider struct {
	Invoker daprx.Invoker
	AppID   string
	Budget  time.Duration
}

type providerAnswer struct {
	RequestID   string `json:"requestId"`
	Status      string `json:"status"`
	VoucherCode string `json:"voucherCode"`
}

// Request asks for the voucher of requestID. No answer within the budget,
// and any 5xx, are Unavailable: the order is not failed by them.
func (p Provider) Request(ctx context.Context, requestID, phone string) (app.Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Budget)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"requestId": requestID, "phoneNumber": phone})
	resp, err := p.Invoker.Invoke(ctx, p.AppID, http.MethodPost, "api/request/voucher", body,
		http.Header{"Idempotency-Key": {requestID}})
	if err != nil {
		return app.Answer{}, err
	}
	switch {
	case resp.Status == http.StatusOK:
		var a providerAnswer
		if err := json.Unmarshal(resp.Body, &a); err != nil || a.VoucherCode == "" {
			return app.Answer{}, errs.E(errs.Unavailable, "provider answered 200 without a voucher code")
		}
		return app.Answer{VoucherCode: a.VoucherCode}, nil
	case resp.Status >= 500:
		return app.Answer{}, errs.E(errs.Unavailable, "provider answered %d: %.200s", resp.Status, resp.Body)
	default:
		return app.Answer{}, errs.E(errs.Invalid, "provider refused the order: %d %.200s", resp.Status, resp.Body)
	}
}

var _ app.Provider = Provider{}

// String names the adapter in logs.
func (p Provider) String() string { return fmt.Sprintf("provider(%s, budget %s)", p.AppID, p.Budget) }
