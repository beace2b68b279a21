// Package app stores issued vouchers once each and lists them by phone
// number. It knows neither Dapr nor HTTP.
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

// Vouchers stores vouchers keyed by requestId, first write wins.
type Vouchers interface {
	Insert(ctx context.Context, key string, v domain.Voucher, ev *persist.Event) error
	Get(ctx context.Context, key string) (domain.Voucher, bool, error)
	// GetMany reads keys in one call; a key with no value is absent.
	GetMany(ctx context.Context, keys []string) (map[string]domain.Voucher, error)
}

// Indexes keeps the pages of the phone number index; Update retries on
// ETag conflicts.
type Indexes interface {
	Get(ctx context.Context, key string) (domain.PhoneIndex, bool, error)
	Update(ctx context.Context, key string, fn func(*domain.PhoneIndex, bool) (*persist.Event, error)) (domain.PhoneIndex, error)
}

// Heads keeps each phone number's PhoneHead; Update retries on ETag
// conflicts.
type Heads interface {
	Get(ctx context.Context, key string) (domain.PhoneHead, bool, error)
	Update(ctx context.Context, key string, fn func(*domain.PhoneHead, bool) (*persist.Event, error)) (domain.PhoneHead, error)
}

// App is the voucher service's use cases.
type App struct {
	Vouchers Vouchers
	Indexes  Indexes
	Heads    Heads
	// Log, if set, notes each voucher stored.
	Log *slog.Logger
}

func voucherKey(requestID string) string { return "voucher|" + requestID }

// legacyKey is the whole index of a number as it was kept before pages.
// Nothing writes it any more; it is listed as the oldest page.
func legacyKey(phone string) string { return "phone|" + phone }
func headKey(phone string) string   { return "phone|" + phone + "|head" }
func pageKey(phone string, page int) string {
	if page == domain.LegacyPage {
		return legacyKey(phone)
	}
	return "phone|" + phone + "|" + strconv.Itoa(page)
}

// Store records the voucher of a receive-code event once. The phone's
// index is written first and the voucher second, so a voucher that can be
// read (gateway asks for it before it tells the customer SUCCESS) is
// always in its phone's list too; a listing skips an indexed id whose
// voucher is not there yet. A redelivered event finds the voucher and
// changes nothing, or, replayed after a crash between the two writes,
// finds its id on the index and writes the voucher.
func (a App) Store(ctx context.Context, ev events.ReceiveCode) error {
	v, issued, err := domain.Issued(ev)
	if err != nil || !issued {
		return err // a failed order has no voucher
	}
	// A voucher that can be read is indexed already, on whatever page.
	switch _, found, err := a.Vouchers.Get(ctx, voucherKey(ev.RequestID)); {
	case err != nil:
		return err
	case found:
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
	return nil
}

// errPageFull ends an update of a page that has no room left.
var errPageFull = errors.New("index page full")

// index adds requestID to the last page of phone's index. It writes that
// page (at most PageSize ids) and, once a page fills, the head: a bounded
// write, however many vouchers the number has. Concurrent adds to one
// page are ETag-checked updates, so none is lost.
func (a App) index(ctx context.Context, phone, requestID string) error {
	for {
		head, _, err := a.Heads.Get(ctx, headKey(phone))
		if err != nil {
			return err
		}
		last := head.Last
		// An id indexed by a store that failed before its voucher was
		// written comes back with the redelivery, soon after: by then
		// others may have filled its page and started the next one.
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

// ByRequest returns the voucher issued for one request.
func (a App) ByRequest(ctx context.Context, requestID string) (domain.Voucher, error) {
	v, found, err := a.Vouchers.Get(ctx, voucherKey(requestID))
	if err != nil {
		return domain.Voucher{}, err
	}
	if !found {
		return domain.Voucher{}, errs.E(errs.NotFound, "no voucher for request %q", requestID)
	}
	return v, nil
}

// ListQuery asks for one page of a number's vouchers.
type ListQuery struct {
	// Limit is how many at most (0: domain.DefaultLimit).
	Limit int
	// Cursor is the Next of the page before ("": the newest).
	Cursor string
}

// VoucherPage is one page of a number's vouchers, newest first. Next, when
// set, is the cursor of the older ones; it is empty on the last page.
type VoucherPage struct {
	Vouchers []domain.Voucher
	Next     string
}

// ByPhone lists the vouchers of one phone number, newest (last stored)
// first, q.Limit at a time. It reads the head, one or two pages of ids and
// their vouchers in one call, whatever the number's history; the old
// whole-index record only once the pages are listed.
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
	// One read for all of them.
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

// walk reads up to limit requestIds from at backwards, newest first, and
// the cursor of what is left (nil: nothing).
func (a App) walk(ctx context.Context, phone string, at domain.Cursor, limit int) ([]string, *domain.Cursor, error) {
	ids := make([]string, 0, limit)
	// An id indexed twice (a store redelivered from an old replica's
	// index in an upgrade) is listed once per answer.
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
