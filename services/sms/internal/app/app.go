// Package app sends each SMS once per message id through an output binding.
package app

import (
	"context"
	"time"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/sms/internal/domain"
)

// Sent records that a message went out (domain.Sent).
type Sent = domain.Sent

// Log is the outgoing SMS log.
type Log interface {
	Get(ctx context.Context, key string) (Sent, bool, error)
	Insert(ctx context.Context, key string, v Sent, ev *persist.Event) error
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

// Send sends the message unless the log says it was sent. A crash between
// sending and logging sends it again on redelivery: at least once, which is
// what an SMS gateway offers anyway.
func (a App) Send(ctx context.Context, m events.SendSMS) error {
	msg, err := domain.NewMessage(m)
	if err != nil {
		return err
	}
	key := sentKey(m.MessageID)
	if _, found, err := a.Log.Get(ctx, key); err != nil || found {
		return err
	}
	if err := a.Gateway.Send(ctx, m.MessageID, m.PhoneNumber, m.Text); err != nil {
		return errs.Wrap(errs.Unavailable, err, "sms binding failed")
	}
	if a.Metrics != nil {
		a.Metrics.Sent(string(msg.Kind()))
	}
	err = a.Log.Insert(ctx, key, msg.SentAt(a.Now()), nil)
	if err == persist.ErrExists {
		return nil
	}
	return err
}

// MaxMessageIDLen bounds a message id (domain.MaxMessageIDLen).
const MaxMessageIDLen = domain.MaxMessageIDLen

func sentKey(messageID string) string { return "sent|" + messageID }

// Sent returns the log entry of messageID and whether the message was sent.
// gateway's outbox relay asks it to tell a send-sms event a broker lost
// after acknowledging it (not found: publish again) from one that was done.
func (a App) Sent(ctx context.Context, messageID string) (Sent, bool, error) {
	if err := domain.CheckID(messageID); err != nil {
		return Sent{}, false, err
	}
	s, found, err := a.Log.Get(ctx, sentKey(messageID))
	if err != nil || !found {
		return Sent{}, false, err
	}
	return s, true, nil
}
