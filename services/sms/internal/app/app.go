// Package app sends each SMS once per message id through an output binding.
package app

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
)

// Sent is the outgoing log entry of one message.
type Sent struct {
	MessageID   string    `json:"messageId"`
	PhoneNumber string    `json:"phoneNumber"`
	SentAt      time.Time `json:"sentAt"`
}

// Log is the outgoing SMS log.
type Log interface {
	Get(ctx context.Context, key string) (Sent, string, bool, error)
	Insert(ctx context.Context, key string, v Sent, ev *daprx.Event) error
}

// Gateway sends one SMS (the Dapr output binding "sms").
type Gateway interface {
	Send(ctx context.Context, messageID, phone, text string) error
}

// App is the sms service's one use case.
type App struct {
	Log     Log
	Gateway Gateway
	Now     func() time.Time
	// Metrics counts messages sent (nil: none).
	Metrics SentMetrics
}

// SentMetrics counts messages handed to the binding, by kind
// (kit/metrics.SMS).
type SentMetrics interface {
	Sent(kind string)
}

// KindOf names the kind of a message from its id: gateway names voucher
// deliveries voucher-<requestId> and verification codes
// phone-code-<user>-<n>.
func KindOf(messageID string) string {
	switch {
	case strings.HasPrefix(messageID, "voucher-"):
		return "voucher"
	case strings.HasPrefix(messageID, "phone-code-"):
		return "phone_code"
	default:
		return "other"
	}
}

// Send sends the message unless the log says it was sent. A crash between
// sending and logging sends it again on redelivery: at least once, which is
// what an SMS gateway offers anyway.
func (a App) Send(ctx context.Context, m events.SendSMS) error {
	if m.MessageID == "" || m.PhoneNumber == "" || m.Text == "" {
		return errs.E(errs.Invalid, "send-sms event without messageId, phoneNumber or text")
	}
	key := sentKey(m.MessageID)
	if _, _, found, err := a.Log.Get(ctx, key); err != nil || found {
		return err
	}
	if err := a.Gateway.Send(ctx, m.MessageID, m.PhoneNumber, m.Text); err != nil {
		return errs.Wrap(errs.Unavailable, err, "sms binding failed")
	}
	if a.Metrics != nil {
		a.Metrics.Sent(KindOf(m.MessageID))
	}
	err := a.Log.Insert(ctx, key, Sent{MessageID: m.MessageID, PhoneNumber: m.PhoneNumber, SentAt: a.Now()}, nil)
	if err == daprx.ErrExists {
		return nil
	}
	return err
}

// MaxMessageIDLen bounds the message id Sent looks up, in characters.
const MaxMessageIDLen = 200

func sentKey(messageID string) string { return "sent|" + messageID }

// Sent returns the log entry of messageID and whether the message was sent.
// gateway's outbox relay asks it to tell a send-sms event a broker lost
// after acknowledging it (not found: publish again) from one that was done.
func (a App) Sent(ctx context.Context, messageID string) (Sent, bool, error) {
	if messageID == "" || utf8.RuneCountInString(messageID) > MaxMessageIDLen {
		return Sent{}, false, errs.E(errs.Invalid, "messageId must be 1 to %d characters", MaxMessageIDLen)
	}
	s, _, found, err := a.Log.Get(ctx, sentKey(messageID))
	if err != nil || !found {
		return Sent{}, false, err
	}
	return s, true, nil
}
