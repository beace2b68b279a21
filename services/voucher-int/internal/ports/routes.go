// Package ports holds voucher-int's inbound doors.
package ports

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/api/vpsapi"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/services/voucher-int/internal/app"
)

const (
	requestCodePath = "/events/request-code"
	reconcilePath   = "/reconcile"
	outboxRelayPath = "/outbox-relay"
	callbackPath    = "/api/voucher-code/vps/response"
)

// ProviderAppID may call back through service invocation: the fake of
// local runs. A real provider calls the public port.
const ProviderAppID = "voucher-provider"

// Routes serves the sidecar behind the app token, and the callback alone
// on the public port, where the code verifier proves the caller.
func Routes(ctx context.Context, log *slog.Logger, a app.App, relay service.Relayer, workers int) service.Faces {
	r := service.NewRoutes(log)
	r.Topic(events.PubSub, requestCodePath, daprx.TopicHandler(log, func(ctx context.Context, _ daprx.Envelope, ev events.RequestCode) error {
		return a.HandleRequestCode(ctx, ev)
	}), events.TopicRequestCode)
	r.Invoked(http.MethodPost, callbackPath, handleCallback(log, a), ProviderAppID)
	r.Cron(ctx, reconcilePath, time.Minute, reconcilePass(log, a, workers))
	if relay != nil {
		r.Cron(ctx, outboxRelayPath, time.Minute, service.OutboxRelay(log, relay))
	}
	public := http.NewServeMux()
	public.Handle("POST "+callbackPath, handleCallback(log, a))
	public.Handle(callbackPath, httpx.OnlyMethods(http.MethodPost))
	public.HandleFunc("/", httpx.NotFound)
	return service.Faces{Sidecar: r, Public: public}
}

type callbackAccepted struct {
	RequestID string `json:"requestId"`
	Status    string `json:"status"`
}

func handleCallback(log *slog.Logger, a app.App) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb, err := httpx.Decode[vpsapi.Callback](r)
		if err == nil {
			err = a.HandleCallback(r.Context(), cb)
		}
		if err != nil {
			log.WarnContext(r.Context(), "late callback refused", "purchase_id", cb.RequestID, "reason", err.Error())
			httpx.WriteError(w, r, log, err)
			return
		}
		httpx.Encode(w, http.StatusOK, callbackAccepted{RequestID: cb.RequestID, Status: "accepted"})
	})
}

// reconcilePass runs one pass at a time, so a slow provider never stacks
// passes up.
func reconcilePass(log *slog.Logger, a app.App, workers int) func(context.Context) {
	return func(ctx context.Context) {
		s, err := a.Reconcile(ctx, workers)
		switch {
		case err != nil:
			log.WarnContext(ctx, "reconcile pass failed", "reason", errs.Reason(err), "error", err)
		case s.Completed+s.Failed+s.Errors.Total() > 0:
			log.InfoContext(ctx, "reconcile pass", "looked", s.Looked, "completed", s.Completed, "failed", s.Failed,
				"waiting", s.Waiting, "errors", s.Errors.Total())
		}
	}
}
