package adapters

import (
	"context"
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

// SentStore keeps a record of each text sent, in a Dapr state store.
type SentStore struct {
	store daprx.Store[sentRecord]
}

// NewSentStore is the store of sent texts over c's state store name.
func NewSentStore(c daprx.StateClient, name string) SentStore {
	return SentStore{store: daprx.Store[sentRecord]{Client: c, Name: name}}
}

func (s SentStore) Get(ctx context.Context, key string) (domain.Sent, bool, error) {
	r, found, err := s.store.Get(ctx, key)
	return sentFromRecord(r), found, err
}

func (s SentStore) Insert(ctx context.Context, key string, v domain.Sent, ev *persist.Event) error {
	return s.store.Insert(ctx, key, sentToRecord(v), ev)
}
