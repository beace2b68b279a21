package adapters

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
)

// SMSConfirmer asks the sms service, through Dapr service invocation,
// whether the message of a send-sms outbox record was sent: the outbox
// relay publishes the record again while it was not (a broker can lose a
// publish it acknowledged).
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
	resp, err := c.Invoker.Invoke(ctx, c.AppID, http.MethodGet, "sent/"+url.PathEscape(m.MessageID), nil, nil)
	if err != nil {
		return false, err
	}
	switch resp.Status {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	default:
		return false, errs.E(errs.Unavailable, "sms service answered %d", resp.Status)
	}
}
