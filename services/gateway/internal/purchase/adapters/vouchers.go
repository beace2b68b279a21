package adapters

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
)

// Vouchers asks the voucher service through Dapr service invocation.
type Vouchers struct {
	Invoker daprx.Invoker
	AppID   string
	// Wait is how long voucher may hold Stored's question (0: it answers at once).
	Wait time.Duration
}

// ByPhone returns one page of voucher's list as it answered it. A page
// voucher refuses is the caller's mistake: Invalid.
func (v Vouchers) ByPhone(ctx context.Context, phone string, page app.VoucherPage) (app.VoucherList, error) {
	q := url.Values{"phoneNumber": {phone}}
	if page.Limit != 0 {
		q.Set("limit", strconv.Itoa(page.Limit))
	}
	if page.Cursor != "" {
		q.Set("cursor", page.Cursor)
	}
	resp, err := v.Invoker.Invoke(ctx, v.AppID, http.MethodGet, "vouchers?"+q.Encode(), nil, nil)
	if err != nil {
		return nil, err
	}
	switch resp.Status {
	case http.StatusOK:
		return app.VoucherList(resp.Body), nil
	case http.StatusBadRequest:
		var p httpx.Problem
		if json.Unmarshal(resp.Body, &p) == nil && p.Detail != "" {
			return nil, errs.E(errs.Invalid, "%s", p.Detail)
		}
		return nil, errs.E(errs.Invalid, "the voucher list refused this page")
	}
	return nil, errs.E(errs.Unavailable, "voucher service answered %d", resp.Status)
}

// Stored asks voucher whether it holds the voucher of requestID, waiting
// up to Wait for one it is storing.
func (v Vouchers) Stored(ctx context.Context, requestID string) (bool, error) {
	method := "vouchers/" + url.PathEscape(requestID)
	if v.Wait > 0 {
		method += "?wait=" + url.QueryEscape(v.Wait.String())
	}
	return v.Invoker.Exists(ctx, v.AppID, method)
}
