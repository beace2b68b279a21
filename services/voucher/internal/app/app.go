// Package app stores issued vouchers once each and lists them by phone
// number.
package app

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strconv"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/voucher/internal/domain"
)

type Vouchers interface {
	Insert(ctx context.Context, key string, v domain.Voucher, ev *persist.Event) error
	Get(ctx context.Context, key string) (domain.Voucher, bool, error)
	GetMany(ctx context.Context, keys []string) (map[string]domain.Voucher, error)
}

type Indexes interface {
	Get(ctx context.Context, key string) (domain.PhoneIndex, bool, error)
	Update(ctx context.Context, key string, fn func(*domain.PhoneIndex, bool) (*persist.Event, error)) (domain.PhoneIndex, error)
}

type Heads interface {
	Get(ctx context.Context, key string) (domain.PhoneHead, bool, error)
	Update(ctx context.Context, key string, fn func(*domain.PhoneHead, bool) (*persist.Event, error)) (domain.PhoneHead, error)
}

type App struct {
	Vouchers Vouchers
	Indexes  Indexes
	Heads    Heads
	Log      *slog.Logger
	// Arrivals may be nil: Await then reads once.
	Arrivals *Arrivals
}

func voucherKey(requestID string) string { return "voucher|" + requestID }

// legacyKey holds a number's whole index as kept before pages. It is
// still listed, as the oldest page, so upgraded data stays visible.
func legacyKey(phone string) string { return "phone|" + phone }
func headKey(phone string) string   { return "phone|" + phone + "|head" }
func pageKey(phone string, page int) string {
	if page == domain.LegacyPage {
		return legacyKey(phone)
	}
	return "phone|" + phone + "|" + strconv.Itoa(page)
}

// Store writes the index before the voucher, so a voucher gateway can read
// is always listed too. A redelivery after a crash between the two writes
// finds the id indexed and writes the voucher.
func (a App) Store(ctx context.Context, ev events.ReceiveCode) error {
	v, issued, err := domain.Issued(ev)
	if err != nil || !issued {
		return err
	}
	// A voucher that can be read is indexed already, on whatever page.
	switch stored, found, err := a.Vouchers.Get(ctx, voucherKey(ev.RequestID)); {
	case err != nil:
		return err
	case found:
		a.Arrivals.arrived(stored)
		return nil
	}
	if err := a.index(ctx, ev.PhoneNumber, ev.RequestID); err != nil {
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
	a.Arrivals.arrived(v)
	return nil
}

var errPageFull = errors.New("index page full")

// index writes one page and sometimes the head, so a write costs the same
// however many vouchers the number has.
func (a App) index(ctx context.Context, phone, requestID string) error {
	for {
		head, _, err := a.Heads.Get(ctx, headKey(phone))
		if err != nil {
			return err
		}
		last := head.Last
		// A redelivered id may sit on the page that filled meanwhile.
		if last > 0 {
			prev, _, err := a.Indexes.Get(ctx, pageKey(phone, last-1))
			if err != nil {
				return err
			}
			if prev.Has(requestID) {
				return nil
			}
		}
		_, err = a.Indexes.Update(ctx, pageKey(phone, last), func(p *domain.PhoneIndex, _ bool) (*persist.Event, error) {
			switch {
			case p.Has(requestID):
				return nil, persist.ErrNoChange
			case p.Full():
				return nil, errPageFull
			}
			*p, _ = p.With(requestID)
			return nil, nil
		})
		if !errors.Is(err, errPageFull) {
			return err
		}
		// Whoever finds the page full first moves the head on; the others
		// find it moved and follow.
		_, err = a.Heads.Update(ctx, headKey(phone), func(h *domain.PhoneHead, _ bool) (*persist.Event, error) {
			if h.Last != last {
				return nil, persist.ErrNoChange
			}
			h.Last = last + 1
			return nil, nil
		})
		if err != nil {
			return err
		}
	}
}

func (a App) ByRequest(ctx context.Context, requestID string) (domain.Voucher, error) {
	v, found, err := a.Vouchers.Get(ctx, voucherKey(requestID))
	if err != nil {
		return domain.Voucher{}, err
	}
	if !found {
		return domain.Voucher{}, noVoucher(requestID)
	}
	return v, nil
}

func noVoucher(requestID string) error {
	return errs.E(errs.NotFound, "no voucher for request %q", requestID)
}

type ListQuery struct {
	// 0: domain.DefaultLimit.
	Limit  int
	Cursor string
}

// VoucherPage lists newest first; Next is empty on the last page.
type VoucherPage struct {
	Vouchers []domain.Voucher
	Next     string
}

// ByPhone reads a bounded number of records, whatever the number's
// history.
func (a App) ByPhone(ctx context.Context, phone string, q ListQuery) (VoucherPage, error) {
	if phone == "" {
		return VoucherPage{}, errs.E(errs.Invalid, "phoneNumber is required")
	}
	limit, err := domain.Limit(q.Limit)
	if err != nil {
		return VoucherPage{}, err
	}
	var at domain.Cursor
	if q.Cursor != "" {
		if at, err = domain.ParseCursor(q.Cursor); err != nil {
			return VoucherPage{}, err
		}
	} else {
		head, _, err := a.Heads.Get(ctx, headKey(phone))
		if err != nil {
			return VoucherPage{}, err
		}
		at = domain.Cursor{Page: head.Last, End: domain.PageSize}
	}
	ids, next, err := a.walk(ctx, phone, at, limit)
	if err != nil {
		return VoucherPage{}, err
	}
	keys := persist.Keys(ids, voucherKey)
	got, err := a.Vouchers.GetMany(ctx, keys)
	if err != nil {
		return VoucherPage{}, err
	}
	out := VoucherPage{Vouchers: make([]domain.Voucher, 0, len(keys))}
	for _, k := range keys {
		if v, found := got[k]; found {
			out.Vouchers = append(out.Vouchers, v)
		}
	}
	if next != nil {
		out.Next = next.String()
	}
	return out, nil
}

func (a App) walk(ctx context.Context, phone string, at domain.Cursor, limit int) ([]string, *domain.Cursor, error) {
	ids := make([]string, 0, limit)
	// An upgrade can index an id twice.
	seen := make(map[string]bool, limit)
	for len(ids) < limit {
		if at.End == 0 {
			if at.Page == domain.LegacyPage {
				return ids, nil, nil
			}
			at = domain.Cursor{Page: at.Page - 1, End: math.MaxInt}
		}
		page, _, err := a.Indexes.Get(ctx, pageKey(phone, at.Page))
		if err != nil {
			return nil, nil, err
		}
		end := min(at.End, len(page.RequestIDs))
		take := min(end, limit-len(ids))
		for _, id := range slices.Backward(page.RequestIDs[end-take : end]) {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		at.End = end - take
	}
	switch {
	case at.End > 0:
		return ids, &at, nil
	case at.Page > 0:
		// Every page before the last is full.
		return ids, &domain.Cursor{Page: at.Page - 1, End: domain.PageSize}, nil
	case at.Page == 0:
		old, _, err := a.Indexes.Get(ctx, legacyKey(phone))
		if err != nil || len(old.RequestIDs) == 0 {
			return ids, nil, err
		}
		return ids, &domain.Cursor{Page: domain.LegacyPage, End: len(old.RequestIDs)}, nil
	}
	return ids, nil, nil
}
