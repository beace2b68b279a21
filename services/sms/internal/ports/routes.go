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

// Routes is the whole surface of the sms service, all of it called by its
// sidecar (service.Faces.Sidecar): the send-sms delivery, and the sent-log
// that gateway alone asks through service invocation.
func Routes(log *slog.Logger, a app.App) http.Handler {
	r := service.NewRoutes(log)
	r.Topic(events.PubSub, "/events/send-sms", daprx.TopicHandler(log, func(ctx context.Context, _ daprx.Envelope, m events.SendSMS) error {
		return a.Send(ctx, m)
	}), events.TopicSendSMS)
	r.Invoked(http.MethodGet, "/sent/{messageId}", handleGetSent(log, a), GatewayAppID)
	// An empty id matches no {messageId}: answer it as the invalid id it is,
	// not as an unknown route. (Through a sidecar it never comes as such:
	// daprd cleans an invoked method's path, and "sent/" arrives as /sent,
	// a 404. The route serves a caller on the app port itself.)
	r.Invoked(http.MethodGet, "/sent/", handleGetSent(log, a), GatewayAppID)
	return r
}

// GatewayAppID is the one app that may ask what was sent.
const GatewayAppID = "gateway"

// sentMessage is what GET /sent/{messageId} answers: never the phone
// number the log also holds.
type sentMessage struct {
	MessageID string    `json:"messageId"`
	SentAt    time.Time `json:"sentAt"`
}

// handleGetSent lets gateway's outbox relay confirm that a send-sms event
// was done, and publish it again when it was not (a broker can lose a
// publish it acknowledged).
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
