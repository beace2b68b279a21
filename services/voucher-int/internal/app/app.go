// Package app turns request-code events into provider orders and their
// outcomes into receive-code events. It knows neither Dapr nor HTTP.
package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
)

// Order statuses of our own: PENDING until the provider gives an outcome.
const StatusPending = "PENDING"

// Order is one purchase from the provider, keyed by requestId.
type Order struct {
	RequestID   string    `json:"requestId"`
	PhoneNumber string    `json:"phoneNumber"`
	Status      string    `json:"status"`
	VoucherCode string    `json:"voucherCode,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	RequestedAt time.Time `json:"requestedAt"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// ProviderCalls counts our calls to the provider for this order.
	ProviderCalls int `json:"providerCalls"`
}

// Final tells whether the order has its outcome.
func (o Order) Final() bool { return o.Status != StatusPending && o.Status != "" }

// Orders is the order store (first write wins; Update is ETag-checked and
// publishes its event in the same transaction).
type Orders interface {
	Insert(ctx context.Context, key string, o Order, ev *daprx.Event) error
	Get(ctx context.Context, key string) (Order, string, bool, error)
	Update(ctx context.Context, key string, fn func(*Order, bool) (*daprx.Event, error)) (Order, error)
}

// Answer is what the provider said to an order request.
type Answer struct {
	VoucherCode string
}

// Provider orders a voucher; requestID is its idempotency key. An error of
// kind Unavailable means no answer in time or a provider failure: not a
// failure of the order.
type Provider interface {
	Request(ctx context.Context, requestID, phone string) (Answer, error)
}

// App is voucher-int's use cases.
type App struct {
	Orders   Orders
	Provider Provider
	Now      func() time.Time
	// LateAfter: a code that comes later than this after the request is
	// LATE_SUCCESS.
	LateAfter time.Duration
}

func orderKey(requestID string) string { return "order|" + requestID }

// HandleRequestCode orders one voucher for the event. A redelivered event
// finds the order: if it has its outcome nothing happens; if it is still
// pending the provider is asked again with the same requestId, which the
// provider treats as the same order.
func (a App) HandleRequestCode(ctx context.Context, ev events.RequestCode) error {
	if ev.RequestID == "" || ev.PhoneNumber == "" {
		return errs.E(errs.Invalid, "request-code event without requestId or phoneNumber")
	}
	now := a.Now()
	o := Order{RequestID: ev.RequestID, PhoneNumber: ev.PhoneNumber, Status: StatusPending,
		RequestedAt: ev.RequestedAt, CreatedAt: now, UpdatedAt: now}
	err := a.Orders.Insert(ctx, orderKey(ev.RequestID), o, nil)
	if errors.Is(err, daprx.ErrExists) {
		existing, _, _, gerr := a.Orders.Get(ctx, orderKey(ev.RequestID))
		if gerr != nil {
			return gerr
		}
		if existing.Final() {
			return nil
		}
		o = existing
	} else if err != nil {
		return err
	}

	ans, err := a.Provider.Request(ctx, o.RequestID, o.PhoneNumber)
	if err != nil {
		// Not a failure of the order: the event is retried, and the same
		// requestId cannot make the provider issue a second code.
		return errs.Wrap(errs.Unavailable, err, fmt.Sprintf("provider gave no code for %s yet", o.RequestID))
	}
	return a.complete(ctx, o.RequestID, ans.VoucherCode)
}

// complete records the code once and publishes receive-code with it.
func (a App) complete(ctx context.Context, requestID, code string) error {
	_, err := a.Orders.Update(ctx, orderKey(requestID), func(o *Order, exists bool) (*daprx.Event, error) {
		if !exists {
			return nil, errs.E(errs.NotFound, "no order %s", requestID)
		}
		if o.Final() {
			return nil, daprx.ErrNoChange
		}
		now := a.Now()
		o.Status = events.StatusSuccess
		if a.LateAfter > 0 && now.Sub(o.RequestedAt) > a.LateAfter {
			o.Status = events.StatusLateSuccess
		}
		o.VoucherCode = code
		o.UpdatedAt = now
		o.ProviderCalls++
		return &daprx.Event{Type: events.TypeReceiveCode, Data: events.ReceiveCode{
			RequestID: o.RequestID, PhoneNumber: o.PhoneNumber, Status: o.Status,
			VoucherCode: code, RequestedAt: o.RequestedAt, IssuedAt: now,
		}}, nil
	})
	return err
}
