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

type SentStore interface {
	Get(ctx context.Context, key string) (domain.Sent, bool, error)
	Insert(ctx context.Context, key string, v domain.Sent, ev *persist.Event) error
}

// Sender is the SMS provider, behind the Dapr output binding "sms".
type Sender interface {
	Send(ctx context.Context, messageID, phone, text string) error
}

type App struct {
	Sent    SentStore
	Sender  Sender
	Now     func() time.Time
	Metrics SentMetrics
}

type SentMetrics interface {
	Sent(kind string)
}

// Send is at least once: a crash between sending and recording sends the
// text again on redelivery, as an SMS provider may anyway.
func (a App) Send(ctx context.Context, m events.SendSMS) error {
	msg, err := domain.NewMessage(m)
	if err != nil {
		return err
	}
	key := sentKey(m.MessageID)
	if _, found, err := a.Sent.Get(ctx, key); err != nil || found {
		return err
	}
	if err := a.Sender.Send(ctx, m.MessageID, m.PhoneNumber, m.Text); err != nil {
		return errs.Wrap(errs.Unavailable, err, "sms binding failed")
	}
	if a.Metrics != nil {
		a.Metrics.Sent(string(msg.Kind()))
	}
	err = a.Sent.Insert(ctx, key, msg.SentAt(a.Now()), nil)
	if err == persist.ErrExists {
		return nil
	}
	return err
}

func sentKey(messageID string) string { return "sent|" + messageID }

// FindSent lets gateway's outbox relay tell a send-sms event a broker
// lost after acknowledging it from one that was done.
func (a App) FindSent(ctx context.Context, messageID string) (domain.Sent, bool, error) {
	if err := domain.CheckID(messageID); err != nil {
		return domain.Sent{}, false, err
	}
	s, found, err := a.Sent.Get(ctx, sentKey(messageID))
	if err != nil || !found {
		return domain.Sent{}, false, err
	}
	return s, true, nil
}
