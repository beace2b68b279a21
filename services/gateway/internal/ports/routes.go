// Package ports is gateway's public API and its topic handlers.
package ports

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/service"
	identity "github.com/bankabc/vouchers/services/gateway/internal/identity/app"
	purchase "github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
	"github.com/bankabc/vouchers/services/gateway/internal/web"
)

// Ops is what the operator endpoints need.
type Ops struct {
	DeadLetters purchase.DeadLetters
	// Token guards /ops/ (header X-Ops-Token); empty turns /ops/ off.
	Token string
}

// The routes only gateway's sidecar calls: topic deliveries and cron
// bindings, on the app port. Customers reach the public port, where none of
// them exists.
const (
	receiveCodePath    = "/events/receive-code"
	deadLetterPath     = "/events/dead-letter"
	webhookSweepPath   = "/webhook-sweep"
	requestRedrivePath = "/request-redrive"
	outboxRelayPath    = "/outbox-relay"
)

// Routes are gateway's faces: the public API and web page for customers,
// the topic deliveries and cron bindings for its sidecar, the dead-letter
// tools for operators. ctx bounds background work. relay publishes what the
// outboxes' writes left (nil: no relay route).
func Routes(ctx context.Context, log *slog.Logger, acc identity.Accounts, pur purchase.Purchases, ops Ops, relay service.Relayer, sweepLease time.Duration, clients Clients) service.Faces {
	return service.Faces{
		Public:   Public(log, acc, pur, clients),
		Sidecar:  Sidecar(ctx, log, pur, ops, relay, sweepLease),
		Operator: Operator(log, ops),
	}
}

// Public is what customers reach (PUBLIC_PORT): the API, the web page and
// the OpenAPI document. Anything else is 404.
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
	// The spec lists the operator's /ops/ too; here they do not exist.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Answers carry tokens, codes and vouchers: no cache keeps them
		// (the web page and the document set their own), and no browser
		// guesses their type.
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if customerFacing(r.URL.Path) {
			w.Header().Set("Cache-Control", "no-store")
		}
		// The mux would redirect a path with "//", "." or ".." segments to
		// its clean form with an HTML body; no route of ours is named so.
		if strings.HasPrefix(r.URL.Path, "/ops/") || unclean(r.URL.Path) {
			handleNotFound(w, r)
			return
		}
		checked.ServeHTTP(w, r)
	})
}

// unclean tells a path that is not in its clean form (the mux's rule: a
// trailing slash is kept).
func unclean(p string) bool {
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean != p
}

// Sidecar is what gateway's sidecar calls (the app port, behind the app
// token): the receive-code and dead-letter deliveries and the cron
// bindings, through go-sdk's service/http (service.Routes). None of them
// is service invocation: a call through another app's sidecar is refused.
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

// deadLetterTopics are the subscriptions' dead-letter topics
// (components/common/subscriptions.yaml), all delivered to one route.
var deadLetterTopics = []string{events.TopicRequestCode + "-dead", events.TopicReceiveCode + "-dead", events.TopicSendSMS + "-dead"}

// Operator is the dead-letter tools (/ops/, on the app port, never the
// public one), for a holder of the operator token.
func Operator(log *slog.Logger, ops Ops) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /ops/dead-letters", operator(log, ops.Token, handleListDeadLetters(log, ops.DeadLetters)))
	mux.Handle("POST /ops/dead-letters/{id}/replay", operator(log, ops.Token, handleReplayDeadLetter(log, ops.DeadLetters)))
	mux.HandleFunc("/", handleNotFound)
	return enforceContract(log, mux)
}

// handleWebhookSecret answers the account's webhook signing secret, after
// reading or rotating it.
func handleWebhookSecret(log *slog.Logger, get func(context.Context, identity.Session) (string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, err := get(r.Context(), sessionOf(r))
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		httpx.Encode(w, http.StatusOK, map[string]string{"secret": secret})
	})
}

// redrivePass is the cron input binding "request-redrive": one sweep.
func redrivePass(log *slog.Logger, r purchase.Redriver) func(context.Context) {
	return func(ctx context.Context) {
		s, err := r.Sweep(ctx)
		switch {
		case err != nil:
			log.WarnContext(ctx, "request redrive: some requests not looked at yet", "checked", s.Checked, "resent", s.Resent,
				"failed", s.Failed, "reason", errs.Reason(err), "error", err)
		case s.Resent > 0:
			log.InfoContext(ctx, "request redrive: request-code sent again", "checked", s.Checked, "resent", s.Resent)
		}
	}
}

// sweepPass is the cron input binding "webhook-sweep": one sweep.
func sweepPass(log *slog.Logger, d purchase.Deliveries, lease time.Duration) func(context.Context) {
	return func(ctx context.Context) {
		s, err := d.Sweep(ctx, lease)
		switch {
		case err != nil:
			log.WarnContext(ctx, "webhook sweep failed", "reason", errs.Reason(err), "error", err)
		case s.Attempted+s.Started+s.Deferred+s.Overdue+s.Errors.Total() > 0:
			log.InfoContext(ctx, "webhook sweep", "attempted", s.Attempted, "started", s.Started, "deferred", s.Deferred,
				"delivered", s.Delivered, "fell_back_to_sms", s.FellBack, "overdue", s.Overdue, "errors", s.Errors.Total())
		}
	}
}

// operator lets a request through only with the operator token.
func operator(log *slog.Logger, token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("X-Ops-Token")
		if token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			httpx.WriteError(w, r, log, errs.E(errs.Unauthorized, "operator token missing or wrong (header X-Ops-Token)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func handleListDeadLetters(log *slog.Logger, d purchase.DeadLetters) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := d.List(r.Context())
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		httpx.Encode(w, http.StatusOK, map[string]any{"deadLetters": list})
	})
}

func handleReplayDeadLetter(log *slog.Logger, d purchase.DeadLetters) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dl, err := d.Replay(r.Context(), r.PathValue("id"))
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		log.WarnContext(r.Context(), "dead letter replayed", "event_id", dl.ID, "topic", dl.Topic, "replays", dl.Replays)
		httpx.Encode(w, http.StatusOK, dl)
	})
}

type sessionKey struct{}

func sessionOf(r *http.Request) identity.Session {
	s, _ := r.Context().Value(sessionKey{}).(identity.Session)
	return s
}

// authenticated accepts "Authorization: Bearer <jwt>" and the bare "<jwt>"
// of the original design's examples.
func authenticated(log *slog.Logger, acc identity.Accounts) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := strings.TrimSpace(r.Header.Get("Authorization"))
			if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
				h = strings.TrimSpace(rest)
			}
			if h == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="vouchers"`)
				httpx.WriteError(w, r, log, errs.E(errs.Unauthorized, "missing access token: send Authorization: Bearer <token>"))
				return
			}
			s, err := acc.Authenticate(r.Context(), h)
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="vouchers", error="invalid_token"`)
				httpx.WriteError(w, r, log, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
		})
	}
}

func handleSignUp(log *slog.Logger, acc identity.Accounts, clients Clients) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpx.Decode[identity.SignUpInput](r)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		in.Client = clients.Of(r)
		tok, err := acc.SignUp(r.Context(), in)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		httpx.Encode(w, http.StatusCreated, tok)
	})
}

type signInInput struct {
	Username   string `json:"username"`
	Password   string `json:"password"`
	UnlockCode string `json:"unlockCode"`
}

func handleSignIn(log *slog.Logger, acc identity.Accounts, clients Clients) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpx.Decode[signInInput](r)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		tok, err := acc.SignIn(r.Context(), identity.SignInInput{Username: in.Username, Password: in.Password,
			Client: clients.Of(r), UnlockCode: in.UnlockCode})
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		httpx.Encode(w, http.StatusOK, tok)
	})
}

func handleUnlockCode(log *slog.Logger, acc identity.Accounts, clients Clients) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpx.Decode[struct {
			Username string `json:"username"`
		}](r)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		if err := acc.RequestUnlockCode(r.Context(), in.Username, clients.Of(r)); err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}

// handleSignOut ends sessions of the caller's (signOut: this one, or every
// one of the account).
func handleSignOut(log *slog.Logger, signOut func(context.Context, identity.Session) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := signOut(r.Context(), sessionOf(r)); err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func handleChangePassword(log *slog.Logger, acc identity.Accounts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpx.Decode[identity.PasswordChange](r)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		tok, err := acc.ChangePassword(r.Context(), sessionOf(r), in)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		httpx.Encode(w, http.StatusOK, tok)
	})
}

// meView is the signed-in account as its owner sees it.
type meView struct {
	Username      string `json:"username"`
	PhoneNumber   string `json:"phoneNumber"`
	PhoneVerified bool   `json:"phoneVerified"`
}

// handleMe answers who the token's session is: what a client needs after
// sign-in to know where to go next (verify the phone, or buy).
func handleMe(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	w.Header().Set("Cache-Control", "no-store")
	httpx.Encode(w, http.StatusOK, meView{Username: s.Username, PhoneNumber: s.PhoneNumber, PhoneVerified: s.PhoneVerified})
}

type verifyInput struct {
	Code string `json:"code"`
}

func handleVerifyPhone(log *slog.Logger, acc identity.Accounts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpx.Decode[verifyInput](r)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		s, err := acc.VerifyPhone(r.Context(), sessionOf(r), in.Code)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		httpx.Encode(w, http.StatusOK, map[string]any{"phoneNumber": s.PhoneNumber, "phoneVerified": true})
	})
}

func handleResendCode(log *slog.Logger, acc identity.Accounts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := acc.ResendCode(r.Context(), sessionOf(r)); err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		httpx.Encode(w, http.StatusAccepted, map[string]string{"message": "a new code is on its way by SMS"})
	})
}

// requestView is a purchase request as the customer sees it.
type requestView struct {
	RequestID   string        `json:"requestId"`
	Status      string        `json:"status"`
	State       int           `json:"state"`
	Progress    int           `json:"progress"`
	Message     string        `json:"message,omitempty"`
	PhoneNumber string        `json:"phoneNumber"`
	CallbackURL string        `json:"callbackUrl,omitempty"`
	VoucherCode string        `json:"voucherCode,omitempty"`
	Reason      string        `json:"reason,omitempty"`
	CreatedAt   string        `json:"createdAt"`
	UpdatedAt   string        `json:"updatedAt"`
	CompletedAt string        `json:"completedAt,omitempty"`
	Delivery    *deliveryView `json:"delivery,omitempty"`
}

// deliveryView is how the code reached (or is reaching) the customer.
type deliveryView struct {
	Channel     string `json:"channel"`
	Status      string `json:"status"`
	Attempts    int    `json:"attempts"`
	FellBack    bool   `json:"fellBackToSms,omitempty"`
	LastError   string `json:"lastError,omitempty"`
	DeliveredAt string `json:"deliveredAt,omitempty"`
}

const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// viewOf is req as its customer sees it, with its delivery if any, and
// what it says while it is processing (purchase.Promise).
func viewOf(req purchase.Request, d *purchase.Delivery, promise string) requestView {
	v := requestView{RequestID: req.RequestID, Status: req.Status, State: req.State, Progress: req.Progress,
		PhoneNumber: req.PhoneNumber, CallbackURL: req.CallbackURL, VoucherCode: req.VoucherCode, Reason: req.Reason,
		CreatedAt: req.CreatedAt.UTC().Format(timeFormat), UpdatedAt: req.UpdatedAt.UTC().Format(timeFormat)}
	if req.CompletedAt != nil {
		v.CompletedAt = req.CompletedAt.UTC().Format(timeFormat)
	}
	if req.State == purchase.StateProcessing {
		v.Message = promise
	}
	if d != nil {
		v.Delivery = &deliveryView{Channel: d.Channel, Status: d.Status, Attempts: d.Attempts, FellBack: d.FellBack, LastError: d.LastError}
		if d.DeliveredAt != nil {
			v.Delivery.DeliveredAt = d.DeliveredAt.UTC().Format(timeFormat)
		}
	}
	return v
}

// handleCreatePurchase takes the JSON body, or the query string of the
// original design (?phoneNumber=…&callbackUrl=…) when there is no body.
func handleCreatePurchase(log *slog.Logger, pur purchase.Purchases) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in purchase.PurchaseInput
		var err error
		q := r.URL.Query()
		inQuery := q.Has("phoneNumber") || q.Has("callbackUrl")
		switch {
		case r.ContentLength == 0 && inQuery:
			in = purchase.PurchaseInput{PhoneNumber: q.Get("phoneNumber"), CallbackURL: q.Get("callbackUrl")}
		case inQuery:
			// One of the two would be ignored: say so rather than guess.
			httpx.WriteProblem(w, r, errs.E(errs.Invalid, "send phoneNumber and callbackUrl in the JSON body or in the query string, not both"))
			return
		default:
			in, err = httpx.Decode[purchase.PurchaseInput](r)
		}
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		req, replayed, err := pur.Create(r.Context(), sessionOf(r).Customer(), in, r.Header.Get("Idempotency-Key"))
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		w.Header().Set("Location", "/voucher/requests/"+req.RequestID)
		// viewOf says "being processed" only of a request that is: a
		// replay of a finished one tells its outcome, not a promise.
		promise, retry := pur.Promise(req)
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		httpx.Encode(w, http.StatusAccepted, viewOf(req, nil, promise))
	})
}

func handleGetRequest(log *slog.Logger, pur purchase.Purchases) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, d, err := pur.Get(r.Context(), sessionOf(r).Customer(), r.PathValue("requestId"))
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		promise, retry := pur.Promise(req)
		if req.State == purchase.StateProcessing {
			w.Header().Set("Retry-After", strconv.Itoa(retry))
		}
		httpx.Encode(w, http.StatusOK, viewOf(req, d, promise))
	})
}

func handleListVouchers(log *slog.Logger, pur purchase.Purchases) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		page := purchase.VoucherPage{Cursor: q.Get("cursor")}
		if q.Has("limit") {
			// The document let only a whole number from 1 to 100 through.
			n, err := strconv.Atoi(q.Get("limit"))
			if err != nil {
				httpx.WriteError(w, r, log, errs.E(errs.Invalid, "limit must be a whole number from 1 to 100"))
				return
			}
			page.Limit = n
		}
		list, err := pur.VouchersOf(r.Context(), sessionOf(r).Customer(), q.Get("phoneNumber"), page)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(list)
	})
}
