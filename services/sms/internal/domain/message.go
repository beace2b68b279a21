// Package domain holds what a text to send must carry, what it is for,
// and the record that it went out.
package domain

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
)

const MaxMessageIDLen = 200

// Kind is what a text is for. It labels the sent counter.
type Kind string

const (
	KindVoucher   Kind = "voucher"
	KindPhoneCode Kind = "phone_code"
	KindOther     Kind = "other"
)

// Message is a text to send once: its id is the idempotency key.
type Message struct {
	MessageID   string
	PhoneNumber string
	Text        string
}

func NewMessage(ev events.SendSMS) (Message, error) {
	if ev.MessageID == "" || ev.PhoneNumber == "" || ev.Text == "" {
		return Message{}, errs.E(errs.Invalid, "send-sms event without messageId, phoneNumber or text")
	}
	return Message{MessageID: ev.MessageID, PhoneNumber: ev.PhoneNumber, Text: ev.Text}, nil
}

func CheckID(id string) error {
	if id == "" || utf8.RuneCountInString(id) > MaxMessageIDLen {
		return errs.E(errs.Invalid, "messageId must be 1 to %d characters", MaxMessageIDLen)
	}
	return nil
}

func (m Message) Kind() Kind { return KindOf(m.MessageID) }

// KindOf reads the id's prefix: gateway names texts by what they are for.
func KindOf(messageID string) Kind {
	switch {
	case strings.HasPrefix(messageID, "voucher-"):
		return KindVoucher
	case strings.HasPrefix(messageID, "phone-code-"):
		return KindPhoneCode
	}
	return KindOther
}

type Sent struct {
	MessageID   string
	PhoneNumber string
	SentAt      time.Time
}

func (m Message) SentAt(now time.Time) Sent {
	return Sent{MessageID: m.MessageID, PhoneNumber: m.PhoneNumber, SentAt: now}
}
