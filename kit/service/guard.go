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

// Headers daprd sets on what it sends an app.
const (
	// TokenHeader carries APP_API_TOKEN on every call daprd makes.
	TokenHeader = daprx.TokenHeader
	// CallerHeader is set by the caller's sidecar, so the caller cannot forge it.
	CallerHeader = "dapr-caller-app-id"
)

// AppToken is required, or anything reaching the port could forge events.
// Only tests set ALLOW_NO_APP_TOKEN=true.
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

// SidecarOnly answers 401 without the app token. An empty token lets all in.
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

// Delivered refuses invocation, which the app token cannot tell from delivery.
func Delivered(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if caller := r.Header.Get(CallerHeader); caller != "" {
			httpx.WriteProblem(w, r, errs.E(errs.Forbidden, "%s takes the sidecar's own deliveries, not service invocation", r.URL.Path))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// InvokedBy is what holds locally, without mTLS and access control, but a
// process speaking daprd's internal API can name any caller (docs/security.md).
func InvokedBy(next http.Handler, apps ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(apps, r.Header.Get(CallerHeader)) {
			httpx.WriteProblem(w, r, errs.E(errs.Forbidden, "%s is called by %s only", r.URL.Path, strings.Join(apps, ", ")))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refusals logs at most one line a second, so refusals cannot flood the log.
type refusals struct {
	log        *slog.Logger
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newRefusals(log *slog.Logger) *refusals { return &refusals{log: log} }

// note never logs the token.
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
