package adapters

import (
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/voucher-int/internal/app"
	"github.com/bankabc/vouchers/services/voucher-int/internal/domain"
)

// orderRecord is an order as the state store keeps it. Its JSON is the
// stored data's shape: renaming a tag makes stored orders unreadable.
type orderRecord struct {
	RequestID       string    `json:"requestId"`
	PhoneNumber     string    `json:"phoneNumber"`
	Status          string    `json:"status"`
	VoucherCode     string    `json:"voucherCode,omitempty"`
	Reason          string    `json:"reason,omitempty"`
	RequestedAt     time.Time `json:"requestedAt"`
	CreatedAt       time.Time `json:"createdAt"`
	UpdatedAt       time.Time `json:"updatedAt"`
	Deadline        time.Time `json:"deadline"`
	CodeChallenge   string    `json:"codeChallenge,omitempty"`
	TransformMethod string    `json:"transformMethod,omitempty"`
	Via             string    `json:"via,omitempty"`
	NextCheckAt     time.Time `json:"nextCheckAt"`
	ClaimedBy       string    `json:"claimedBy,omitempty"`
	ClaimedUntil    time.Time `json:"claimedUntil"`
	Checks          int       `json:"checks"`
	TraceParent     string    `json:"traceparent,omitempty"`
}

func orderToRecord(o domain.Order) orderRecord {
	return orderRecord{
		RequestID: o.RequestID, PhoneNumber: o.PhoneNumber, Status: string(o.Status),
		VoucherCode: o.VoucherCode, Reason: o.Reason,
		RequestedAt: o.RequestedAt, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, Deadline: o.Deadline,
		CodeChallenge: o.CodeChallenge, TransformMethod: o.TransformMethod, Via: string(o.Via),
		NextCheckAt: o.NextCheckAt, ClaimedBy: o.ClaimedBy, ClaimedUntil: o.ClaimedUntil, Checks: o.Checks,
		TraceParent: o.TraceParent,
	}
}

func orderFromRecord(r orderRecord) domain.Order {
	return domain.Order{
		RequestID: r.RequestID, PhoneNumber: r.PhoneNumber, Status: domain.OrderStatus(r.Status),
		VoucherCode: r.VoucherCode, Reason: r.Reason,
		RequestedAt: r.RequestedAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Deadline: r.Deadline,
		CodeChallenge: r.CodeChallenge, TransformMethod: r.TransformMethod, Via: domain.Via(r.Via),
		NextCheckAt: r.NextCheckAt, ClaimedBy: r.ClaimedBy, ClaimedUntil: r.ClaimedUntil, Checks: r.Checks,
		TraceParent: r.TraceParent,
	}
}

// NewOrders is the order store over c's state store name, publishing
// through outbox.
func NewOrders(c daprx.StateClient, name string, outbox *daprx.Outbox) app.Orders {
	return persist.Mapped[domain.Order, orderRecord]{
		Records:  daprx.Store[orderRecord]{Client: c, Name: name, Outbox: outbox},
		ToRecord: orderToRecord, ToDomain: orderFromRecord,
	}
}
