// Package domain holds gateway's purchase rules: how a request ends and how
// its code reaches the customer. It does no I/O, so time and jitter come in.
package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
)

// RequestState is stored and answered, so it keeps the design's numbers.
type RequestState int

const (
	StateProcessing RequestState = 0
	StateSuccess    RequestState = 1
	StateFailed     RequestState = 2
)

// String names the state for logs.
func (s RequestState) String() string {
	switch s {
	case StateProcessing:
		return "processing"
	case StateSuccess:
		return "success"
	case StateFailed:
		return "failed"
	}
	return fmt.Sprintf("RequestState(%d)", int(s))
}

// RequestStatus is the purchase status the events carry.
type RequestStatus string

const (
	StatusProcessing  RequestStatus = events.StatusProcessing
	StatusSuccess     RequestStatus = events.StatusSuccess
	StatusLateSuccess RequestStatus = events.StatusLateSuccess
	StatusFailed      RequestStatus = events.StatusFailed
)

// Request is one purchase request, keyed by requestId.
type Request struct {
	RequestID   string
	UserID      string
	Username    string
	PhoneNumber string
	CallbackURL string
	Fingerprint string
	Status      RequestStatus
	State       RequestState
	Progress    int
	VoucherCode string
	Reason      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt *time.Time
	// TraceParent lets a redriven request-code continue the first trace.
	TraceParent string
}

// Accept starts r and returns the request-code that orders its voucher.
func Accept(r Request, now time.Time) (Request, events.RequestCode) {
	r.Status, r.State, r.Progress = StatusProcessing, StateProcessing, 0
	r.VoucherCode, r.Reason, r.CompletedAt = "", "", nil
	r.CreatedAt, r.UpdatedAt = now, now
	return r, events.RequestCode{RequestID: r.RequestID, UserID: r.UserID, PhoneNumber: r.PhoneNumber, RequestedAt: now}
}

// Finish records ev's outcome once, so a redelivered event changes nothing.
func (r Request) Finish(ev events.ReceiveCode, now time.Time) (Request, bool, error) {
	if r.State != StateProcessing {
		return r, false, nil
	}
	status := RequestStatus(ev.Status)
	switch status {
	case StatusSuccess, StatusLateSuccess:
		r.State, r.VoucherCode = StateSuccess, ev.VoucherCode
	case StatusFailed:
		r.State, r.Reason = StateFailed, ev.Reason
	case StatusProcessing:
		return r, false, errs.E(errs.Invalid, "receive-code with status %q: not an outcome", ev.Status)
	default: // the event came from outside: anything may be in it
		return r, false, errs.E(errs.Invalid, "receive-code with status %q", ev.Status)
	}
	r.Status, r.Progress, r.UpdatedAt, r.CompletedAt = status, 100, now, &now
	return r, true, nil
}

// Channel is how a code goes to its customer.
type Channel string

const (
	ChannelWebhook Channel = "webhook"
	ChannelSMS     Channel = "sms"
)

// DeliveryStatus is where a delivery is.
type DeliveryStatus string

const (
	DeliveryPending   DeliveryStatus = "PENDING"   // webhook attempts go on
	DeliveryDelivered DeliveryStatus = "DELIVERED" // webhook answered 2xx
	DeliverySMSQueued DeliveryStatus = "SMS_SENT"  // handed to the sms service (send-sms)
)

// Delivery is how one request's code reaches the customer.
type Delivery struct {
	RequestID   string
	Username    string
	PhoneNumber string
	Channel     Channel
	Status      DeliveryStatus
	// Body is stored so every attempt sends the same bytes. Receivers
	// deduplicate by WebhookID.
	CallbackURL string
	WebhookID   string
	Body        []byte
	Attempts    int
	LastError   string
	// FellBack is true when the webhook gave up and the code went by SMS.
	FellBack      bool
	NextAttemptAt time.Time
	ClaimedUntil  time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	DeliveredAt   *time.Time
}

// The texts that go with a code, word for word from the original design.
const (
	SuccessMessage     = "Thank you for using our services, your voucher code is ready."
	LateSuccessMessage = "Thank you for your patience, your voucher code is ready."
)

// DeliveryMessage is the text that goes with a code of the given status.
func DeliveryMessage(status RequestStatus) string {
	if status == StatusLateSuccess {
		return LateSuccessMessage
	}
	return SuccessMessage
}

// CodeSMS is a text that carries a request's code to its number.
type CodeSMS struct {
	Status      RequestStatus
	VoucherCode string
}

// Text is what the SMS says.
func (c CodeSMS) Text() string { return DeliveryMessage(c.Status) + " Code: " + c.VoucherCode }

// BeginDelivery sends a SUCCESS with a callbackUrl by webhook, anything
// else by SMS at once. A customer may have stopped waiting for a
// LATE_SUCCESS at the callbackUrl.
func BeginDelivery(req Request, now time.Time, codec WebhookCodec) (d Delivery, sms *CodeSMS, ok bool, err error) {
	if req.State != StateSuccess {
		return Delivery{}, nil, false, nil
	}
	d = Delivery{RequestID: req.RequestID, Username: req.Username, PhoneNumber: req.PhoneNumber,
		CreatedAt: now, UpdatedAt: now}
	if req.Status == StatusSuccess && req.CallbackURL != "" {
		body, err := codec.Encode(Webhook{RequestID: req.RequestID, Status: req.Status, State: req.State,
			PhoneNumber: req.PhoneNumber, VoucherCode: req.VoucherCode, Message: DeliveryMessage(req.Status), At: now})
		if err != nil {
			return Delivery{}, nil, false, fmt.Errorf("delivery %s: %w", req.RequestID, err)
		}
		d.Channel, d.Status, d.CallbackURL = ChannelWebhook, DeliveryPending, req.CallbackURL
		d.WebhookID, d.Body, d.NextAttemptAt = "msg_"+req.RequestID, body, now
		return d, nil, true, nil
	}
	d.Channel, d.Status, d.DeliveredAt = ChannelSMS, DeliverySMSQueued, &now
	return d, &CodeSMS{Status: req.Status, VoucherCode: req.VoucherCode}, true, nil
}

// Webhook is what a webhook tells the customer's receiver.
type Webhook struct {
	RequestID   string
	Status      RequestStatus
	State       RequestState
	PhoneNumber string
	VoucherCode string
	Message     string
	At          time.Time
}

// WebhookCodec writes a webhook's body and reads it back for the SMS.
type WebhookCodec interface {
	Encode(Webhook) ([]byte, error)
	Decode(body []byte) (Webhook, error)
}

// WebhookResult is what one attempt got.
type WebhookResult struct {
	Delivered bool
	// RetryAfter is the receiver's Retry-After, if it sent one.
	RetryAfter time.Duration
	Err        string
}

// Due tells whether a Claim at now would take d.
func (d Delivery) Due(now time.Time) bool {
	return d.Status == DeliveryPending && !now.Before(d.NextAttemptAt) && !now.Before(d.ClaimedUntil)
}

// Claim takes a due, unheld webhook for one attempt, for lease.
func (d Delivery) Claim(now time.Time, lease time.Duration) (Delivery, bool) {
	if !d.Due(now) {
		return d, false
	}
	d.ClaimedUntil = now.Add(lease)
	return d, true
}

// Attempt is what one webhook attempt made of a delivery.
type Attempt int

const (
	// AttemptNone: the delivery was not pending.
	AttemptNone Attempt = iota
	AttemptDelivered
	AttemptRetry
	// AttemptFellBack: the schedule ran out, so the code goes by SMS.
	AttemptFellBack
)

// String names the attempt as logs and metrics do.
func (a Attempt) String() string {
	switch a {
	case AttemptNone:
		return "none"
	case AttemptDelivered:
		return "delivered"
	case AttemptRetry:
		return "retry"
	case AttemptFellBack:
		return "fell_back"
	}
	return fmt.Sprintf("Attempt(%d)", int(a))
}

// WebhookRules are the retry schedule of webhooks.
type WebhookRules struct {
	Schedule []time.Duration
	// MaxRetryAfter caps how long a receiver's Retry-After may hold us.
	MaxRetryAfter time.Duration
	// OverdueAfter: a webhook that waited this long for a place goes by SMS.
	OverdueAfter time.Duration
	// Codec reads a body back when its code goes by SMS.
	Codec WebhookCodec
}

// Overdue tells whether d waited so long for a place that it goes by SMS.
func (w WebhookRules) Overdue(d Delivery, now time.Time) bool {
	return w.OverdueAfter > 0 && d.Status == DeliveryPending && !now.Before(d.ClaimedUntil) &&
		now.Sub(d.NextAttemptAt) >= w.OverdueAfter
}

// GiveUp sends an Overdue webhook's code by SMS without another attempt.
func (w WebhookRules) GiveUp(d Delivery, at time.Time) (Delivery, Attempt, *CodeSMS, error) {
	if !w.Overdue(d, at) {
		return d, AttemptNone, nil, nil
	}
	d.UpdatedAt, d.ClaimedUntil = at, time.Time{}
	d.LastError = "not attempted in time"
	return w.fallBack(d, at)
}

func (w WebhookRules) fallBack(d Delivery, at time.Time) (Delivery, Attempt, *CodeSMS, error) {
	hook, err := w.Codec.Decode(d.Body)
	if err != nil {
		return d, AttemptNone, nil, fmt.Errorf("delivery %s: %w", d.RequestID, err)
	}
	d.Channel, d.Status, d.FellBack, d.DeliveredAt = ChannelSMS, DeliverySMSQueued, true, &at
	return d, AttemptFellBack, &CodeSMS{Status: hook.Status, VoucherCode: hook.VoucherCode}, nil
}

// TakeTurns orders due webhooks in rounds, one per customer each round, so
// one customer's many never stand in front of another's one.
func TakeTurns(due []Delivery) []Delivery {
	byCustomer := map[string][]Delivery{}
	var customers []string
	for _, d := range due {
		if _, seen := byCustomer[d.Username]; !seen {
			customers = append(customers, d.Username)
		}
		byCustomer[d.Username] = append(byCustomer[d.Username], d)
	}
	for _, c := range customers {
		slices.SortStableFunc(byCustomer[c], func(a, b Delivery) int { return a.NextAttemptAt.Compare(b.NextAttemptAt) })
	}
	slices.SortStableFunc(customers, func(a, b string) int {
		return byCustomer[a][0].NextAttemptAt.Compare(byCustomer[b][0].NextAttemptAt)
	})
	out := make([]Delivery, 0, len(due))
	for round := 0; len(out) < len(due); round++ {
		for _, c := range customers {
			if round < len(byCustomer[c]) {
				out = append(out, byCustomer[c][round])
			}
		}
	}
	return out
}

// Record records one attempt's result. A failure waits the next step, or a
// longer Retry-After up to a cap. Up to 10% jitter spreads the retries of
// receivers that fail together. Past the last step the code goes by SMS.
func (w WebhookRules) Record(d Delivery, res WebhookResult, at time.Time, jitter func(n int64) int64) (Delivery, Attempt, *CodeSMS, error) {
	if d.Status != DeliveryPending {
		return d, AttemptNone, nil, nil
	}
	d.Attempts++
	d.UpdatedAt, d.ClaimedUntil = at, time.Time{}
	if res.Delivered {
		d.Status, d.DeliveredAt, d.LastError = DeliveryDelivered, &at, ""
		return d, AttemptDelivered, nil, nil
	}
	d.LastError = res.Err
	if d.Attempts > len(w.Schedule) {
		return w.fallBack(d, at)
	}
	wait := w.Schedule[d.Attempts-1]
	if res.RetryAfter > wait {
		wait = min(res.RetryAfter, w.MaxRetryAfter)
	}
	wait += time.Duration(jitter(int64(wait)/10 + 1))
	d.NextAttemptAt = at.Add(wait)
	return d, AttemptRetry, nil, nil
}
