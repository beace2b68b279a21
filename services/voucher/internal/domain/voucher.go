// Package domain holds voucher's rules: which receive-code issues a
// voucher, and how a phone number's vouchers are kept and listed. No I/O,
// no Dapr.
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

// Voucher is one issued code, stored once per requestId.
type Voucher struct {
	RequestID   string
	PhoneNumber string
	VoucherCode string
	Status      Status
	RequestedAt time.Time
	IssuedAt    time.Time
}

// Issued is the voucher a receive-code issues: none (false) for an order
// that failed; Invalid for a success that lacks what a voucher needs.
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

// PhoneIndex is one page of a phone number's index: requestIds in the order
// they were stored, oldest first. Before pages, a number's whole index was
// one such record; it is still read, as the oldest page (LegacyPage).
type PhoneIndex struct {
	RequestIDs []string
}

// Has tells whether requestID is on the page (a redelivered event).
func (ix PhoneIndex) Has(requestID string) bool { return slices.Contains(ix.RequestIDs, requestID) }

// Full tells whether the page has no room left: the next id goes to a new
// page.
func (ix PhoneIndex) Full() bool { return len(ix.RequestIDs) >= PageSize }

// With is ix with requestID in it; false when it was there already (a
// redelivered event).
func (ix PhoneIndex) With(requestID string) (PhoneIndex, bool) {
	if ix.Has(requestID) {
		return ix, false
	}
	ix.RequestIDs = append(slices.Clip(ix.RequestIDs), requestID)
	return ix, true
}

// PhoneHead names the last page of a phone number's index, the one new
// requestIds go to. Pages 0 to Last-1 are full.
type PhoneHead struct {
	Last int
}

// LegacyPage is the number of the index as it was kept before pages: it
// comes before page 0.
const LegacyPage = -1

// Limits of a listing: how many vouchers one answer holds.
const (
	DefaultLimit = 50
	MaxLimit     = 100
)

// Limit is the number of vouchers to list when the caller asked for n (0:
// not asked).
func Limit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultLimit, nil
	case n < 1 || n > MaxLimit:
		return 0, errs.E(errs.Invalid, "limit must be a whole number from 1 to %d", MaxLimit)
	}
	return n, nil
}

// Cursor is where a listing goes on: the requestIds of page Page before
// position End, newest first, then the older pages. Positions never move
// (ids are only appended), so vouchers stored while a customer pages
// neither repeat nor hide older ones.
type Cursor struct {
	Page, End int
}

// cursorPrefix versions the token, so its form can change without a
// client's cursor being read wrong.
const cursorPrefix = "v1."

// String is the cursor as the opaque token a client sends back.
func (c Cursor) String() string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s%d.%d", cursorPrefix, c.Page, c.End))
}

// ParseCursor reads a token that String wrote.
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
