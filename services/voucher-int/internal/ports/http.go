// Package ports holds voucher-int's inbound doors.
package ports

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/kit/vpsapi"
	"github.com/bankabc/vouchers/services/voucher-int/internal/app"
)

// The routes only voucher-int's sidecar calls: the request-code delivery
// and the reconciler's cron binding. The provider's callback is not one.
const (
	requestCodePath = "/events/request-code"
	reconcilePath   = "/reconcile"
	outboxRelayPath = "/outbox-relay"
)

// TrustsTrace tells whether a request's traceparent is continued: only the
// sidecar's are. The provider's callback starts a trace here, which the
// handler replaces with the trace kept on the order
// (service.App.TrustsTrace).
var TrustsTrace = httpx.TrustTraceOn(requestCodePath, reconcilePath, outboxRelayPath)

// Routes is the whole surface of voucher-int. ctx bounds background work.
// relay publishes what the outbox's writes left (nil: no relay route).
func Routes(ctx context.Context, log *slog.Logger, a app.App, relay service.Relayer, workers int) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST "+requestCodePath, daprx.Topic(log, func(ctx context.Context, _ daprx.Envelope, ev events.RequestCode) error {
		return a.HandleRequestCode(ctx, ev)
	}))
	mux.Handle("POST /api/voucher-code/vps/response", handleCallback(log, a))
	mux.Handle("POST "+reconcilePath, handleReconcile(ctx, log, a, workers))
	if relay != nil {
		mux.Handle("POST "+outboxRelayPath, service.OutboxRelay(ctx, log, relay))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	return mux
}

// handleCallback takes the provider's late code. 401 for an unknown request
// or a wrong verifier, 409 for a replay; nothing changes in either case.
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
		httpx.Encode(w, http.StatusOK, map[string]string{"requestId": cb.RequestID, "status": "accepted"})
	})
}

// handleReconcile is the cron input binding "reconcile": one pass at a
// time, in the background, so a slow provider never stacks passes up.
func handleReconcile(ctx context.Context, log *slog.Logger, a app.App, workers int) http.Handler {
	return service.OneAtATime(ctx, time.Minute, func(ctx context.Context) {
		s, err := a.Reconcile(ctx, workers)
		switch {
		case err != nil:
			log.WarnContext(ctx, "reconcile pass failed", "error", err)
		case s.Completed+s.Failed > 0:
			log.InfoContext(ctx, "reconcile pass", "looked", s.Looked, "completed", s.Completed, "failed", s.Failed, "waiting", s.Waiting)
		}
	})
}
