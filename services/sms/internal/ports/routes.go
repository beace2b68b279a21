// Package ports holds the sms service's inbound doors.
package ports

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/sms/internal/app"
)

func Routes(log *slog.Logger, a app.App) http.Handler {
	r := service.NewRoutes(log)
	r.Topic(events.PubSub, "/events/send-sms", daprx.TopicHandler(log, func(ctx context.Context, _ daprx.Envelope, m events.SendSMS) error {
		return a.Send(ctx, m)
	}), events.TopicSendSMS)
	r.Invoked(http.MethodGet, "/sent/{messageId}", handleGetSent(log, a), GatewayAppID)
	// An empty id is an invalid id, not an unknown route. daprd cleans
	// "sent/" to /sent, so only a caller on the app port gets here.
	r.Invoked(http.MethodGet, "/sent/", handleGetSent(log, a), GatewayAppID)
	return r
}

const GatewayAppID = "gateway"

// sentMessage leaves out the phone number the record also holds.
type sentMessage struct {
	MessageID string    `json:"messageId"`
	SentAt    time.Time `json:"sentAt"`
}

func handleGetSent(log *slog.Logger, a app.App) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("messageId")
		s, found, err := a.FindSent(r.Context(), id)
		if err == nil && !found {
			err = errs.E(errs.NotFound, "no message %q was sent", id)
		}
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		httpx.Encode(w, http.StatusOK, sentMessage{MessageID: s.MessageID, SentAt: s.SentAt})
	})
}
