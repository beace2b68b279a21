// Package app stores issued vouchers once each and lists them by phone
// number. It knows neither Dapr nor HTTP.
package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
)

// Voucher is one issued code.
type Voucher struct {
	RequestID   string    `json:"requestId"`
	PhoneNumber string    `json:"phoneNumber"`
	VoucherCode string    `json:"voucherCode"`
	Status      string    `json:"status"`
	RequestedAt time.Time `json:"requestedAt"`
	IssuedAt    time.Time `json:"issuedAt"`
}

// PhoneIndex lists the requestIds of the vouchers of one phone number.
type PhoneIndex struct {
	RequestIDs []string `json:"requestIds"`
}

// Vouchers stores vouchers keyed by requestId, first write wins.
type Vouchers interface {
	Insert(ctx context.Context, key string, v Voucher, ev *daprx.Event) error
	Get(ctx context.Context, key string) (Voucher, string, bool, error)
}

// Indexes keeps the phone number index; Update retries on ETag conflicts.
type Indexes interface {
	Get(ctx context.Context, key string) (PhoneIndex, string, bool, error)
	Update(ctx context.Context, key string, fn func(*PhoneIndex, bool) (*daprx.Event, error)) (PhoneIndex, error)
}

// App is the voucher service's use cases.
type App struct {
	Vouchers Vouchers
	Indexes  Indexes
	// Log, if set, notes each voucher stored.
	Log *slog.Logger
}

func voucherKey(requestID string) string { return "voucher|" + requestID }
func phoneKey(phone string) string       { return "phone|" + phone }

// Store records the voucher of a receive-code event once. A redelivered
// event, or one replayed after a crash between the two writes, finds the
// voucher there and only repairs the index.
func (a App) Store(ctx context.Context, ev events.ReceiveCode) error {
	if ev.Status != events.StatusSuccess && ev.Status != events.StatusLateSuccess {
		return nil // a failed order has no voucher
	}
	if ev.RequestID == "" || ev.PhoneNumber == "" || ev.VoucherCode == "" {
		return errs.E(errs.Invalid, "receive-code event without requestId, phoneNumber or voucherCode")
	}
	v := Voucher{RequestID: ev.RequestID, PhoneNumber: ev.PhoneNumber, VoucherCode: ev.VoucherCode,
		Status: ev.Status, RequestedAt: ev.RequestedAt, IssuedAt: ev.IssuedAt}
	switch err := a.Vouchers.Insert(ctx, voucherKey(ev.RequestID), v, nil); {
	case err == nil:
		if a.Log != nil {
			a.Log.InfoContext(ctx, "voucher stored", "purchase_id", ev.RequestID, "status", ev.Status)
		}
	case !errors.Is(err, daprx.ErrExists):
		return err
	}
	_, err := a.Indexes.Update(ctx, phoneKey(ev.PhoneNumber), func(ix *PhoneIndex, _ bool) (*daprx.Event, error) {
		if slices.Contains(ix.RequestIDs, ev.RequestID) {
			return nil, daprx.ErrNoChange
		}
		ix.RequestIDs = append(ix.RequestIDs, ev.RequestID)
		return nil, nil
	})
	return err
}

// ByRequest returns the voucher issued for one request.
func (a App) ByRequest(ctx context.Context, requestID string) (Voucher, error) {
	v, _, found, err := a.Vouchers.Get(ctx, voucherKey(requestID))
	if err != nil {
		return Voucher{}, err
	}
	if !found {
		return Voucher{}, errs.E(errs.NotFound, "no voucher for request %q", requestID)
	}
	return v, nil
}

// ByPhone lists the vouchers of one phone number, newest first.
func (a App) ByPhone(ctx context.Context, phone string) ([]Voucher, error) {
	if phone == "" {
		return nil, errs.E(errs.Invalid, "phoneNumber is required")
	}
	ix, _, _, err := a.Indexes.Get(ctx, phoneKey(phone))
	if err != nil {
		return nil, err
	}
	out := make([]Voucher, 0, len(ix.RequestIDs))
	for _, id := range ix.RequestIDs {
		v, _, found, err := a.Vouchers.Get(ctx, voucherKey(id))
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b Voucher) int { return b.IssuedAt.Compare(a.IssuedAt) })
	return out, nil
}
