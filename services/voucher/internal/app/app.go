// Package app stores issued vouchers once each and lists them by phone
// number. It knows neither Dapr nor HTTP.
package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/voucher/internal/domain"
)

// Voucher is one issued code (domain.Voucher: its rules live there).
type Voucher = domain.Voucher

// PhoneIndex lists the requestIds of one phone number's vouchers.
type PhoneIndex = domain.PhoneIndex

// Vouchers stores vouchers keyed by requestId, first write wins.
type Vouchers interface {
	Insert(ctx context.Context, key string, v Voucher, ev *persist.Event) error
	Get(ctx context.Context, key string) (Voucher, string, bool, error)
	// GetMany reads keys in one call; a key with no value is absent.
	GetMany(ctx context.Context, keys []string) (map[string]Voucher, error)
}

// Indexes keeps the phone number index; Update retries on ETag conflicts.
type Indexes interface {
	Get(ctx context.Context, key string) (PhoneIndex, string, bool, error)
	Update(ctx context.Context, key string, fn func(*PhoneIndex, bool) (*persist.Event, error)) (PhoneIndex, error)
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

// Store records the voucher of a receive-code event once. The phone's
// index is written first and the voucher second, so a voucher that can be
// read (gateway asks for it before it tells the customer SUCCESS) is
// always in its phone's list too; a listing skips an indexed id whose
// voucher is not there yet. A redelivered event, or one replayed after a
// crash between the two writes, finds the index done and writes the
// voucher, or finds both and changes nothing.
func (a App) Store(ctx context.Context, ev events.ReceiveCode) error {
	v, issued, err := domain.Issued(ev)
	if err != nil || !issued {
		return err // a failed order has no voucher
	}
	_, err = a.Indexes.Update(ctx, phoneKey(ev.PhoneNumber), func(ix *PhoneIndex, _ bool) (*persist.Event, error) {
		next, added := ix.With(ev.RequestID)
		if !added {
			return nil, persist.ErrNoChange
		}
		*ix = next
		return nil, nil
	})
	if err != nil {
		return err
	}
	switch err := a.Vouchers.Insert(ctx, voucherKey(ev.RequestID), v, nil); {
	case err == nil:
		if a.Log != nil {
			a.Log.InfoContext(ctx, "voucher stored", "purchase_id", ev.RequestID, "status", ev.Status)
		}
	case !errors.Is(err, persist.ErrExists):
		return err
	}
	return nil
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
	// One read for all of them.
	keys := persist.Keys(ix.RequestIDs, voucherKey)
	got, err := a.Vouchers.GetMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]Voucher, 0, len(keys))
	for _, k := range keys {
		if v, found := got[k]; found {
			out = append(out, v)
		}
	}
	out = domain.Newest(out)
	return out, nil
}
