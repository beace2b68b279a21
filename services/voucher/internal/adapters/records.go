// Package adapters holds voucher's outbound doors: its state store, as
// records whose JSON is the stored data's shape.
package adapters

import (
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/voucher/internal/domain"
)

// voucherRecord is a voucher as the state store keeps it. Renaming a tag
// makes stored vouchers unreadable.
type voucherRecord struct {
	RequestID   string    `json:"requestId"`
	PhoneNumber string    `json:"phoneNumber"`
	VoucherCode string    `json:"voucherCode"`
	Status      string    `json:"status"`
	RequestedAt time.Time `json:"requestedAt"`
	IssuedAt    time.Time `json:"issuedAt"`
}

func voucherToRecord(v domain.Voucher) voucherRecord {
	return voucherRecord{RequestID: v.RequestID, PhoneNumber: v.PhoneNumber, VoucherCode: v.VoucherCode,
		Status: string(v.Status), RequestedAt: v.RequestedAt, IssuedAt: v.IssuedAt}
}

func voucherFromRecord(r voucherRecord) domain.Voucher {
	return domain.Voucher{RequestID: r.RequestID, PhoneNumber: r.PhoneNumber, VoucherCode: r.VoucherCode,
		Status: domain.Status(r.Status), RequestedAt: r.RequestedAt, IssuedAt: r.IssuedAt}
}

// phoneIndexRecord is one page of a phone number's index, and also the
// whole index as it was kept before pages.
type phoneIndexRecord struct {
	RequestIDs []string `json:"requestIds"`
}

func phoneIndexToRecord(ix domain.PhoneIndex) phoneIndexRecord {
	return phoneIndexRecord{RequestIDs: ix.RequestIDs}
}

func phoneIndexFromRecord(r phoneIndexRecord) domain.PhoneIndex {
	return domain.PhoneIndex{RequestIDs: r.RequestIDs}
}

type phoneHeadRecord struct {
	Last int `json:"last"`
}

func phoneHeadToRecord(h domain.PhoneHead) phoneHeadRecord { return phoneHeadRecord{Last: h.Last} }

func phoneHeadFromRecord(r phoneHeadRecord) domain.PhoneHead { return domain.PhoneHead{Last: r.Last} }

type Vouchers = persist.Mapped[domain.Voucher, voucherRecord]

type Indexes = persist.Mapped[domain.PhoneIndex, phoneIndexRecord]

type Heads = persist.Mapped[domain.PhoneHead, phoneHeadRecord]

func NewVouchers(c daprx.StateClient, name string) Vouchers {
	return Vouchers{Records: daprx.Store[voucherRecord]{Client: c, Name: name},
		ToRecord: voucherToRecord, ToDomain: voucherFromRecord}
}

func NewIndexes(c daprx.StateClient, name string) Indexes {
	return Indexes{Records: daprx.Store[phoneIndexRecord]{Client: c, Name: name},
		ToRecord: phoneIndexToRecord, ToDomain: phoneIndexFromRecord}
}

func NewHeads(c daprx.StateClient, name string) Heads {
	return Heads{Records: daprx.Store[phoneHeadRecord]{Client: c, Name: name},
		ToRecord: phoneHeadToRecord, ToDomain: phoneHeadFromRecord}
}
