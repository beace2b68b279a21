// Package ports is gateway's inbound doors, split by caller: public
// identity, public purchase, sidecar and operator. routes.go lists them all.
package ports

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/service"
	identity "github.com/bankabc/vouchers/services/gateway/internal/identity/app"
	purchase "github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
	"github.com/bankabc/vouchers/services/gateway/internal/web"
)

// Routes is what gateway's faces are made of.
type Routes struct {
	Log       *slog.Logger
	Accounts  identity.Accounts
	Purchases purchase.Purchases
	Ops       Ops
	// Relay is nil for no relay route.
	Relay service.Relayer
	// SweepLease is how long one replica holds a webhook sweep.
	SweepLease time.Duration
	Clients    Clients
}

// Faces are gateway's faces, one per caller. ctx bounds background work.
func (rt Routes) Faces(ctx context.Context) service.Faces {
	return service.Faces{
		Public:   Public(rt.Log, rt.Accounts, rt.Purchases, rt.Clients),
		Sidecar:  Sidecar(ctx, rt.Log, rt.Purchases, rt.Ops, rt.Relay, rt.SweepLease),
		Operator: Operator(rt.Log, rt.Ops),
	}
}

// Public is what customers reach on PUBLIC_PORT. Anything else is 404.
func Public(log *slog.Logger, acc identity.Accounts, pur purchase.Purchases, clients Clients) http.Handler {
	auth := authenticated(log, acc)
	mux := http.NewServeMux()
	mux.Handle("POST /user/sign-up", handleSignUp(log, acc, clients))
	mux.Handle("POST /user/sign-in", handleSignIn(log, acc, clients))
	mux.Handle("POST /user/sign-in/unlock-code", handleUnlockCode(log, acc, clients))
	mux.Handle("POST /user/sign-out", auth(handleSignOut(log, acc.SignOut)))
	mux.Handle("POST /user/sign-out-everywhere", auth(handleSignOut(log, acc.SignOutEverywhere)))
	mux.Handle("POST /user/password", auth(handleChangePassword(log, acc)))
	mux.Handle("GET /user/me", auth(http.HandlerFunc(handleMe)))
	mux.Handle("POST /user/phone/verify", auth(handleVerifyPhone(log, acc)))
	mux.Handle("POST /user/phone/verification", auth(handleResendCode(log, acc)))
	mux.Handle("GET /user/webhook-secret", auth(handleWebhookSecret(log, acc.WebhookSecret)))
	mux.Handle("POST /user/webhook-secret/rotate", auth(handleWebhookSecret(log, acc.RotateWebhookSecret)))
	mux.Handle("POST /voucher", auth(handleCreatePurchase(log, pur)))
	mux.Handle("GET /voucher/requests/{requestId}", auth(handleGetRequest(log, pur)))
	mux.Handle("GET /voucher", auth(handleListVouchers(log, pur)))
	mux.Handle("GET /{$}", web.Handler())
	mux.Handle("GET /assets/", web.Handler())
	mux.HandleFunc("GET /openapi.yaml", handleOpenAPI)
	mux.HandleFunc("/", handleNotFound)
	checked := enforceContract(log, mux)
	// The spec lists /ops/ too; on this port it does not exist.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Answers carry tokens, codes and vouchers: nothing may cache them, and no
		// browser may guess their type.
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if customerFacing(r.URL.Path) {
			w.Header().Set("Cache-Control", "no-store")
		}
		// The mux would redirect unclean paths with an HTML body; no route of ours
		// is named so.
		if strings.HasPrefix(r.URL.Path, "/ops/") || unclean(r.URL.Path) {
			handleNotFound(w, r)
			return
		}
		checked.ServeHTTP(w, r)
	})
}

// unclean follows the mux's rule: a trailing slash is kept.
func unclean(p string) bool {
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean != p
}

// Sidecar is what gateway's sidecar calls on the app port. None of it is
// service invocation: a call through another app's sidecar is refused.
func Sidecar(ctx context.Context, log *slog.Logger, pur purchase.Purchases, ops Ops, relay service.Relayer, sweepLease time.Duration) http.Handler {
	r := service.NewRoutes(log)
	r.Topic(events.PubSub, receiveCodePath, daprx.TopicHandler(log, func(ctx context.Context, _ daprx.Envelope, ev events.ReceiveCode) error {
		return pur.Complete(ctx, ev)
	}), events.TopicReceiveCode)
	r.Cron(ctx, webhookSweepPath, time.Minute, sweepPass(log, pur.Deliveries, sweepLease))
	if pur.Redrive != nil {
		r.Cron(ctx, requestRedrivePath, time.Minute, redrivePass(log, pur.Redrive))
	}
	if relay != nil {
		r.Cron(ctx, outboxRelayPath, time.Minute, service.OutboxRelay(log, relay))
	}
	r.Topic(events.PubSub, deadLetterPath, daprx.TopicHandler(log, func(ctx context.Context, ev daprx.Envelope, data json.RawMessage) error {
		log.ErrorContext(ctx, "dead letter", "event_id", ev.ID, "topic", ev.Topic, "type", ev.Type,
			"hint", "the subscriber logged why it gave up under the same event_id; replay with POST /ops/dead-letters/{id}/replay")
		return ops.DeadLetters.Keep(ctx, ev.ID, ev.Topic, data)
	}), deadLetterTopics...)
	r.NotFound(handleNotFound)
	return r
}

// Operator is the dead-letter tools, on the app port, never the public one.
func Operator(log *slog.Logger, ops Ops) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /ops/dead-letters", operator(log, ops.Token, handleListDeadLetters(log, ops.DeadLetters)))
	mux.Handle("POST /ops/dead-letters/{id}/replay", operator(log, ops.Token, handleReplayDeadLetter(log, ops.DeadLetters)))
	mux.HandleFunc("/", handleNotFound)
	return enforceContract(log, mux)
}
