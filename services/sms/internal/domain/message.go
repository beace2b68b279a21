// Package domain holds sms's rules: what a text to send must carry, what
// kind it is, and the record that it went out (sent once per message id).
// No I/O, no Dapr, no clock.
package domain

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
)

// MaxMessageIDLen bounds a message id, as the route that confirms it does.
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

// NewMessage checks a send-sms event: an id, a number and a text.
func NewMessage(ev events.SendSMS) (Message, error) {
	if ev.MessageID == "" || ev.PhoneNumber == "" || ev.Text == "" {
		return Message{}, errs.E(errs.Invalid, "send-sms event without messageId, phoneNumber or text")
	}
	return Message{MessageID: ev.MessageID, PhoneNumber: ev.PhoneNumber, Text: ev.Text}, nil
}

// CheckID refuses a message id no message can have.
func CheckID(id string) error {
	if id == "" || utf8.RuneCountInString(id) > MaxMessageIDLen {
		return errs.E(errs.Invalid, "messageId must be 1 to %d characters", MaxMessageIDLen)
	}
	return nil
}

// Kind is what the text is for, read from its id's prefix.
func (m Message) Kind() Kind { return KindOf(m.MessageID) }

// KindOf is the kind of the text with that id.
func KindOf(messageID string) Kind {
	switch {
	case strings.HasPrefix(messageID, "voucher-"):
		return KindVoucher
	case strings.HasPrefix(messageID, "phone-code-"):
		return KindPhoneCode
	}
	return KindOther
}

// Sent records that a message went out.
type Sent struct {
	MessageID   string
	PhoneNumber string
	SentAt      time.Time
}

// SentAt is the record of m sent at now.
func (m Message) SentAt(now time.Time) Sent {
	return Sent{MessageID: m.MessageID, PhoneNumber: m.PhoneNumber, SentAt: now}
}
