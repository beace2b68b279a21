package adapters

import (
	"context"
	"encoding/json"
	"net/url"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
)

// SMSConfirmer asks sms whether an outbox record's message was sent. The
// relay publishes it again until it was, since a broker can lose a publish.
type SMSConfirmer struct {
	Invoker daprx.Invoker
	AppID   string
}

var _ daprx.Confirmer = SMSConfirmer{}

// Confirmed tells whether sms has logged rec's message as sent.
func (c SMSConfirmer) Confirmed(ctx context.Context, rec daprx.OutboxRecord) (bool, error) {
	var m events.SendSMS
	if err := json.Unmarshal(rec.Data, &m); err != nil {
		return false, errs.Wrap(errs.Invalid, err, "outbox record "+rec.ID+" is not a send-sms event")
	}
	if m.MessageID == "" {
		return false, errs.E(errs.Invalid, "send-sms outbox record %s has no messageId", rec.ID)
	}
	return c.Invoker.Exists(ctx, c.AppID, "sent/"+url.PathEscape(m.MessageID))

}
