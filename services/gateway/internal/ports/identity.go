package ports

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
	identity "github.com/bankabc/vouchers/services/gateway/internal/identity/app"
	identitydomain "github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
)

type sessionKey struct{}

func sessionOf(r *http.Request) identitydomain.Session {
	s, _ := r.Context().Value(sessionKey{}).(identitydomain.Session)
	return s
}

// authenticated also takes the bare "<jwt>" of the original design's examples.
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
		in, err := httpx.Decode[signUpBody](r)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		tok, err := acc.SignUp(r.Context(), identity.SignUpInput{Username: in.Username, PhoneNumber: in.PhoneNumber,
			Password: in.Password, Client: clients.Of(r)})
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		httpx.Encode(w, http.StatusCreated, tokenView(tok))
	})
}

type signUpBody struct {
	Username    string `json:"username"`
	PhoneNumber string `json:"phoneNumber"`
	Password    string `json:"password"`
}

type passwordChangeBody struct {
	CurrentPassword string `json:"currentPassword"`
	NewPassword     string `json:"newPassword"`
}

type tokenView struct {
	AccessToken string `json:"accessToken"`
	TokenType   string `json:"tokenType"`
	ExpiresIn   int    `json:"expiresIn"`
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
			httpx.WriteError(w, r, log, withUnlockHint(err))
			return
		}
		httpx.Encode(w, http.StatusOK, tokenView(tok))
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

// handleSignOut ends this session, or every session of the account.
func handleSignOut(log *slog.Logger, signOut func(context.Context, identitydomain.Session) error) http.Handler {
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
		in, err := httpx.Decode[passwordChangeBody](r)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		tok, err := acc.ChangePassword(r.Context(), sessionOf(r), identity.PasswordChange(in))
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		httpx.Encode(w, http.StatusOK, tokenView(tok))
	})
}

type meView struct {
	Username      string `json:"username"`
	PhoneNumber   string `json:"phoneNumber"`
	PhoneVerified bool   `json:"phoneVerified"`
}

// handleMe tells a client where to go after sign-in: verify, or buy.
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

func handleWebhookSecret(log *slog.Logger, get func(context.Context, identitydomain.Session) (string, error)) http.Handler {
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

// withUnlockHint tells the caller of a locked account how to get an unlock code.
func withUnlockHint(err error) error {
	var e *errs.Error
	if !errors.Is(err, identity.ErrAccountLocked) || !errors.As(err, &e) {
		return err
	}
	hinted := *e
	hinted.Message += " (the account's owner can ask for an unlock code by SMS: POST /user/sign-in/unlock-code)"
	return &hinted
}
