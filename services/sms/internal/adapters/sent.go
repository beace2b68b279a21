package adapters

import (
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/sms/internal/domain"
)

// sentRecord is a sent text as the state store keeps it. Renaming a tag
// makes stored records unreadable.
type sentRecord struct {
	MessageID   string    `json:"messageId"`
	PhoneNumber string    `json:"phoneNumber"`
	SentAt      time.Time `json:"sentAt"`
}

func sentToRecord(s domain.Sent) sentRecord {
	return sentRecord{MessageID: s.MessageID, PhoneNumber: s.PhoneNumber, SentAt: s.SentAt}
}

func sentFromRecord(r sentRecord) domain.Sent {
	return domain.Sent{MessageID: r.MessageID, PhoneNumber: r.PhoneNumber, SentAt: r.SentAt}
}

// NewSentStore is the store of sent texts over c's state store name.
func NewSentStore(c daprx.StateClient, name string) persist.Mapped[domain.Sent, sentRecord] {
	return persist.Mapped[domain.Sent, sentRecord]{Records: daprx.Store[sentRecord]{Client: c, Name: name},
		ToRecord: sentToRecord, ToDomain: sentFromRecord}
}
