package adapters

import (
	"encoding/json"
	"time"

	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/gateway/internal/daily"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// RequestRecord is a stored request. Its fields are domain.Request's in the
// same order, so the two convert; only the tags are the store's.
type RequestRecord struct {
	RequestID   string               `json:"requestId"`
	UserID      string               `json:"userId"`
	Username    string               `json:"username"`
	PhoneNumber string               `json:"phoneNumber"`
	CallbackURL string               `json:"callbackUrl,omitempty"`
	Fingerprint string               `json:"fingerprint"`
	Status      domain.RequestStatus `json:"status"`
	State       domain.RequestState  `json:"state"`
	Progress    int                  `json:"progress"`
	VoucherCode string               `json:"voucherCode,omitempty"`
	Reason      string               `json:"reason,omitempty"`
	CreatedAt   time.Time            `json:"createdAt"`
	UpdatedAt   time.Time            `json:"updatedAt"`
	CompletedAt *time.Time           `json:"completedAt,omitempty"`
	TraceParent string               `json:"traceparent,omitempty"`
}

// DeliveryRecord is a stored delivery; its body is raw JSON.
type DeliveryRecord struct {
	RequestID     string                `json:"requestId"`
	Username      string                `json:"username"`
	PhoneNumber   string                `json:"phoneNumber"`
	Channel       domain.Channel        `json:"channel"`
	Status        domain.DeliveryStatus `json:"status"`
	CallbackURL   string                `json:"callbackUrl,omitempty"`
	WebhookID     string                `json:"webhookId,omitempty"`
	Body          json.RawMessage       `json:"body,omitempty"`
	Attempts      int                   `json:"attempts"`
	LastError     string                `json:"lastError,omitempty"`
	FellBack      bool                  `json:"fellBack,omitempty"`
	NextAttemptAt time.Time             `json:"nextAttemptAt"`
	ClaimedUntil  time.Time             `json:"claimedUntil"`
	CreatedAt     time.Time             `json:"createdAt"`
	UpdatedAt     time.Time             `json:"updatedAt"`
	DeliveredAt   *time.Time            `json:"deliveredAt,omitempty"`
}

// CountRecord is a daily count as the state store keeps it.
type CountRecord struct {
	N int `json:"n"`
}

// Requests keeps purchase requests in records.
func Requests(records persist.Store[RequestRecord]) persist.Mapped[domain.Request, RequestRecord] {
	return persist.Mapped[domain.Request, RequestRecord]{Records: records,
		ToRecord: func(r domain.Request) RequestRecord { return RequestRecord(r) },
		ToDomain: func(r RequestRecord) domain.Request { return domain.Request(r) }}
}

// Deliveries keeps deliveries in records. The body is kept as the JSON
// it is, so every attempt sends the bytes the first one did.
func Deliveries(records persist.Store[DeliveryRecord]) persist.Mapped[domain.Delivery, DeliveryRecord] {
	return persist.Mapped[domain.Delivery, DeliveryRecord]{Records: records,
		ToRecord: func(d domain.Delivery) DeliveryRecord {
			return DeliveryRecord{RequestID: d.RequestID, Username: d.Username, PhoneNumber: d.PhoneNumber,
				Channel: d.Channel, Status: d.Status, CallbackURL: d.CallbackURL, WebhookID: d.WebhookID,
				Body: json.RawMessage(d.Body), Attempts: d.Attempts, LastError: d.LastError, FellBack: d.FellBack,
				NextAttemptAt: d.NextAttemptAt, ClaimedUntil: d.ClaimedUntil, CreatedAt: d.CreatedAt,
				UpdatedAt: d.UpdatedAt, DeliveredAt: d.DeliveredAt}
		},
		ToDomain: func(r DeliveryRecord) domain.Delivery {
			return domain.Delivery{RequestID: r.RequestID, Username: r.Username, PhoneNumber: r.PhoneNumber,
				Channel: r.Channel, Status: r.Status, CallbackURL: r.CallbackURL, WebhookID: r.WebhookID,
				Body: []byte(r.Body), Attempts: r.Attempts, LastError: r.LastError, FellBack: r.FellBack,
				NextAttemptAt: r.NextAttemptAt, ClaimedUntil: r.ClaimedUntil, CreatedAt: r.CreatedAt,
				UpdatedAt: r.UpdatedAt, DeliveredAt: r.DeliveredAt}
		}}
}

// Counts keeps daily counts in records.
func Counts(records persist.Store[CountRecord]) persist.Mapped[daily.Count, CountRecord] {
	return persist.Mapped[daily.Count, CountRecord]{Records: records,
		ToRecord: func(c daily.Count) CountRecord { return CountRecord(c) },
		ToDomain: func(r CountRecord) daily.Count { return daily.Count(r) }}
}

// DeadLetterRecord is a stored dead letter, with app.DeadLetter's fields.
type DeadLetterRecord struct {
	ID         string          `json:"id"`
	Topic      string          `json:"topic"`
	DeadTopic  string          `json:"deadTopic"`
	Data       json.RawMessage `json:"data"`
	ReceivedAt time.Time       `json:"receivedAt"`
	Replays    int             `json:"replays"`
	ReplayedAt *time.Time      `json:"replayedAt,omitempty"`
}

// DeadLetters keeps dead letters in records.
func DeadLetters(records persist.Store[DeadLetterRecord]) persist.Mapped[app.DeadLetter, DeadLetterRecord] {
	return persist.Mapped[app.DeadLetter, DeadLetterRecord]{Records: records,
		ToRecord: func(d app.DeadLetter) DeadLetterRecord { return DeadLetterRecord(d) },
		ToDomain: func(r DeadLetterRecord) app.DeadLetter { return app.DeadLetter(r) }}
}
