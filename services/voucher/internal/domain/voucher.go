// Package domain holds voucher's rules: which receive-code issues a
// voucher, and how a phone number's vouchers are kept and listed. No I/O,
// no Dapr.
package domain

import (
	"slices"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
)

// Voucher is one issued code, stored once per requestId.
type Voucher struct {
	RequestID   string    `json:"requestId"`
	PhoneNumber string    `json:"phoneNumber"`
	VoucherCode string    `json:"voucherCode"`
	Status      string    `json:"status"`
	RequestedAt time.Time `json:"requestedAt"`
	IssuedAt    time.Time `json:"issuedAt"`
}

// Issued is the voucher a receive-code issues: none (false) for an order
// that failed; Invalid for a success that lacks what a voucher needs.
func Issued(ev events.ReceiveCode) (Voucher, bool, error) {
	if ev.Status != events.StatusSuccess && ev.Status != events.StatusLateSuccess {
		return Voucher{}, false, nil
	}
	if ev.RequestID == "" || ev.PhoneNumber == "" || ev.VoucherCode == "" {
		return Voucher{}, false, errs.E(errs.Invalid, "receive-code event without requestId, phoneNumber or voucherCode")
	}
	return Voucher{RequestID: ev.RequestID, PhoneNumber: ev.PhoneNumber, VoucherCode: ev.VoucherCode,
		Status: ev.Status, RequestedAt: ev.RequestedAt, IssuedAt: ev.IssuedAt}, true, nil
}

// PhoneIndex lists the requestIds of one phone number's vouchers.
type PhoneIndex struct {
	RequestIDs []string `json:"requestIds"`
}

// With is ix with requestID in it; false when it was there already (a
// redelivered event).
func (ix PhoneIndex) With(requestID string) (PhoneIndex, bool) {
	if slices.Contains(ix.RequestIDs, requestID) {
		return ix, false
	}
	ix.RequestIDs = append(slices.Clip(ix.RequestIDs), requestID)
	return ix, true
}

// Newest orders vouchers as a customer reads them: the newest first.
func Newest(vs []Voucher) []Voucher {
	slices.SortStableFunc(vs, func(a, b Voucher) int { return b.IssuedAt.Compare(a.IssuedAt) })
	return vs
}
