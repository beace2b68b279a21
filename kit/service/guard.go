package service

import (
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
)

// The headers daprd puts on what it sends an app.
const (
	// TokenHeader carries the app API token (APP_API_TOKEN) on every call
	// daprd makes to its app: topic deliveries, input bindings, service
	// invocation. Apps send their sidecar DAPR_API_TOKEN in the same header
	// (daprx).
	TokenHeader = daprx.TokenHeader
	// CallerHeader names the calling app on service invocation. The
	// caller's sidecar sets it from its own app id, whatever the calling
	// app sent; a topic delivery or an input binding carries none.
	CallerHeader = "dapr-caller-app-id"
)

// AppToken reads APP_API_TOKEN, the token an app's sidecar proves itself
// with. An app without one refuses to start: anything that reaches its port
// could otherwise deliver forged events and run its sweeps. Only
// ALLOW_NO_APP_TOKEN=true, for a test that starts an app by hand, lets it
// start without, and then its sidecar routes take any caller.
func AppToken(getenv func(string) string) (string, error) {
	if t := getenv("APP_API_TOKEN"); t != "" {
		if len(t) < 16 {
			return "", errors.New("APP_API_TOKEN is shorter than 16 characters: use a random one (openssl rand -hex 32)")
		}
		return t, nil
	}
	if getenv("ALLOW_NO_APP_TOKEN") == "true" {
		return "", nil
	}
	return "", errors.New("APP_API_TOKEN is not set: the sidecar and the app must share a random token " +
		"(make run makes one per app; with the Dapr CLI export it before dapr run; Compose: deploy/compose/tokens/<app>.env " +
		"from make compose-secrets; Kubernetes: the Secret <app>-app-token); ALLOW_NO_APP_TOKEN=true starts without one, for tests only")
}

// SidecarOnly serves next only to requests that carry the app's token, the
// one daprd sends (TokenHeader). Any other request is answered 401
// problem+json and does nothing. An empty token (ALLOW_NO_APP_TOKEN) lets
// every request through.
func SidecarOnly(log *slog.Logger, token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte(token)
	refused := newRefusals(log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get(TokenHeader)
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			reason := "no app token"
			if got != "" {
				reason = "wrong app token"
			}
			refused.note(r, reason)
			httpx.WriteProblem(w, r, errs.E(errs.Unauthorized, "only this app's Dapr sidecar may call %s", r.URL.Path))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Delivered marks a route that daprd itself calls: a topic delivery or an
// input binding. A request that came through service invocation (another
// app, through its own sidecar) is refused with 403: the app token alone
// cannot tell it apart, since the callee's sidecar adds the token to both.
func Delivered(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if caller := r.Header.Get(CallerHeader); caller != "" {
			httpx.WriteProblem(w, r, errs.E(errs.Forbidden, "%s takes the sidecar's own deliveries, not service invocation", r.URL.Path))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// InvokedBy marks a route other apps call through service invocation: only
// the apps named get through, everyone else 403. In Kubernetes the Dapr
// access control policy refuses the others before they get here (mTLS
// proves the caller). Locally, with no mTLS, this check is the one that
// holds against other apps, whose sidecars name them; a process that
// speaks to daprd's internal API itself names any caller
// (docs/security.md).
func InvokedBy(next http.Handler, apps ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(apps, r.Header.Get(CallerHeader)) {
			httpx.WriteProblem(w, r, errs.E(errs.Forbidden, "%s is called by %s only", r.URL.Path, strings.Join(apps, ", ")))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refusals logs refused requests without flooding the log: the first at
// once, then at most one line a second, with how many were not logged.
type refusals struct {
	log        *slog.Logger
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newRefusals(log *slog.Logger) *refusals { return &refusals{log: log} }

// note writes one line for r (never its token).
func (f *refusals) note(r *http.Request, reason string) {
	f.mu.Lock()
	now := time.Now()
	if now.Sub(f.last) < time.Second {
		f.suppressed++
		f.mu.Unlock()
		return
	}
	n := f.suppressed
	f.last, f.suppressed = now, 0
	f.mu.Unlock()
	f.log.WarnContext(r.Context(), "refused: not from this app's sidecar", "reason", reason,
		"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "refused_unlogged", n)
}
