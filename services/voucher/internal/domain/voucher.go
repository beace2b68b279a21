// Package domain holds which receive-code issues a voucher, and how a
// phone number's vouchers are paged.
package domain

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
)

// Status tells whether a voucher's code came in time. It is spelled as in
// the receive-code event.
type Status string

const (
	StatusSuccess     Status = events.StatusSuccess
	StatusLateSuccess Status = events.StatusLateSuccess
)

type Voucher struct {
	RequestID   string
	PhoneNumber string
	VoucherCode string
	Status      Status
	RequestedAt time.Time
	IssuedAt    time.Time
}

// Issued is false for a failed order: it has no voucher.
func Issued(ev events.ReceiveCode) (Voucher, bool, error) {
	st := Status(ev.Status)
	if st != StatusSuccess && st != StatusLateSuccess {
		return Voucher{}, false, nil
	}
	if ev.RequestID == "" || ev.PhoneNumber == "" || ev.VoucherCode == "" {
		return Voucher{}, false, errs.E(errs.Invalid, "receive-code event without requestId, phoneNumber or voucherCode")
	}
	return Voucher{RequestID: ev.RequestID, PhoneNumber: ev.PhoneNumber, VoucherCode: ev.VoucherCode,
		Status: st, RequestedAt: ev.RequestedAt, IssuedAt: ev.IssuedAt}, true, nil
}

// PageSize is how many requestIds one page of a phone number's index
// holds. Storing a voucher rewrites one page, so its cost does not grow
// with the number's history.
const PageSize = 100

// PhoneIndex is one page of a phone number's requestIds, oldest first.
type PhoneIndex struct {
	RequestIDs []string
}

func (ix PhoneIndex) Has(requestID string) bool { return slices.Contains(ix.RequestIDs, requestID) }

func (ix PhoneIndex) Full() bool { return len(ix.RequestIDs) >= PageSize }

// With is false for an id already there: a redelivered event.
func (ix PhoneIndex) With(requestID string) (PhoneIndex, bool) {
	if ix.Has(requestID) {
		return ix, false
	}
	ix.RequestIDs = append(slices.Clip(ix.RequestIDs), requestID)
	return ix, true
}

// PhoneHead names the page new ids go to; the pages before it are full.
type PhoneHead struct {
	Last int
}

// LegacyPage is the whole index kept before pages, listed after page 0.
const LegacyPage = -1

const (
	DefaultLimit = 50
	MaxLimit     = 100
)

// Limit reads n 0 as not asked.
func Limit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultLimit, nil
	case n < 1 || n > MaxLimit:
		return 0, errs.E(errs.Invalid, "limit must be a whole number from 1 to %d", MaxLimit)
	}
	return n, nil
}

// Cursor points into the append-only pages, so vouchers stored while a
// customer pages neither repeat nor hide older ones.
type Cursor struct {
	Page, End int
}

// cursorPrefix versions the token, so its form can change without a
// client's cursor being read wrong.
const cursorPrefix = "v1."

func (c Cursor) String() string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s%d.%d", cursorPrefix, c.Page, c.End))
}

func ParseCursor(token string) (Cursor, error) {
	bad := errs.E(errs.Invalid, "cursor is not one this list gave: start again without it")
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return Cursor{}, bad
	}
	page, end, ok := strings.Cut(strings.TrimPrefix(string(b), cursorPrefix), ".")
	if !ok || !strings.HasPrefix(string(b), cursorPrefix) {
		return Cursor{}, bad
	}
	var c Cursor
	if c.Page, err = strconv.Atoi(page); err != nil {
		return Cursor{}, bad
	}
	if c.End, err = strconv.Atoi(end); err != nil {
		return Cursor{}, bad
	}
	// Only a page's own positions; the old whole index may hold more.
	if c.Page < LegacyPage || c.End < 1 || (c.Page != LegacyPage && c.End > PageSize) || c.String() != token {
		return Cursor{}, bad
	}
	return c, nil
}
