package adapters

import (
	"context"
	"net/http"
	"net/url"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/services/gateway/internal/app"
)

// Vouchers asks the voucher service through Dapr service invocation.
type Vouchers struct {
	Invoker daprx.Invoker
	AppID   string
}

// ByPhone returns the voucher service's list for phone as it answered it.
func (v Vouchers) ByPhone(ctx context.Context, phone string) (app.VoucherList, error) {
	resp, err := v.Invoker.Invoke(ctx, v.AppID, http.MethodGet, "vouchers?phoneNumber="+url.QueryEscape(phone), nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, errs.E(errs.Unavailable, "voucher service answered %d", resp.Status)
	}
	return app.VoucherList(resp.Body), nil
}

// Stored asks voucher whether it holds the voucher of requestID.
func (v Vouchers) Stored(ctx context.Context, requestID string) (bool, error) {
	return v.Invoker.Exists(ctx, v.AppID, "vouchers/"+url.PathEscape(requestID))
}
