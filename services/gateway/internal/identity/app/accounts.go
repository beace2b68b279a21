// Package app holds gateway's identity use cases. It knows neither Dapr nor HTTP.
package app

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
)

// Hasher hashes and checks passwords.
type Hasher interface {
	Hash(password string) (string, error)
	Verify(hash, password string) bool
}

// Tokens issues and reads access tokens that name a session.
type Tokens interface {
	Issue(sessionID, userID string, now time.Time) (string, error)
	SessionID(token string, now time.Time) (string, error)
}

// Accounts signs users up and in and checks their sessions.
type Accounts struct {
	Users    persist.Store[domain.User]
	Phones   persist.Store[domain.PhoneClaim]
	Sessions persist.Store[domain.Session]
	// SessionLists lists each account's sessions, to end them all.
	SessionLists persist.Store[domain.SessionList]
	// SessionMaxAge is a token's lifetime.
	SessionMaxAge time.Duration
	Hasher        Hasher
	// Hashing bounds concurrent password hashes. Nil means no bound.
	Hashing     *Slots
	Tokens      Tokens
	Now         func() time.Time
	NewID       func() string
	NewSecret   func() string
	IdleTimeout time.Duration
	// Rules come from the OpenAPI document.
	Rules domain.AccountRules
	// Codes are phone verification codes.
	Codes  Codes
	Limits Limits
	// AccountLimits stops guessing from many addresses; its owner unlocks by SMS.
	AccountLimits Limits
	UnlockCodes   Codes
	// UnknownNames and Pace keep unknown names as slow as known ones.
	UnknownNames *MemStrikes
	Pace         *Pace
	// SMSPolicy says which numbers get texts.
	SMSPolicy SMSPolicy
	// Later runs work the answer does not wait for. Nil means a goroutine.
	Later func(func())
}

// SignUpInput is a sign-up request.
type SignUpInput struct {
	Username    string
	PhoneNumber string
	Password    string
	Client      string
}

// Token is what sign-up and sign-in answer.
type Token struct {
	AccessToken string
	TokenType   string
	ExpiresIn   int // seconds of inactivity before the session ends
}

func userKey(username string) string { return "user|" + username }
func phoneKey(phone string) string   { return "phone|" + phone }
func sessionKey(id string) string    { return "session|" + id }

// NormalizePhone returns the number in E.164.
func NormalizePhone(raw string) (string, error) { return domain.NormalizePhone(raw) }

// SignUp creates the account. The first write of a username wins.
func (a Accounts) SignUp(ctx context.Context, in SignUpInput) (Token, error) {
	if err := a.Rules.Username.Check(in.Username); err != nil {
		return Token{}, err
	}
	phone, err := domain.NormalizePhone(in.PhoneNumber)
	if err != nil {
		return Token{}, err
	}
	if err := a.SMSPolicy.Check(phone); err != nil {
		return Token{}, err
	}
	in.Password = domain.NormalizePassword(in.Password)
	if err := a.Rules.Password.Check(in.Password); err != nil {
		return Token{}, err
	}
	if err := domain.CheckPasswordText("password", in.Password); err != nil {
		return Token{}, err
	}
	// A cheap refusal before the costly hash. The insert still decides a race.
	if _, found, err := a.Users.Get(ctx, userKey(in.Username)); err != nil {
		return Token{}, err
	} else if found {
		return Token{}, errs.E(errs.Conflict, "username is already taken")
	}
	if err := a.SMSPolicy.Budget.Spend(ctx, in.Client); err != nil {
		return Token{}, err
	}
	release, err := a.Hashing.Take(in.Client)
	if err != nil {
		return Token{}, err
	}
	hash, err := a.Hasher.Hash(in.Password)
	release()
	if err != nil {
		return Token{}, err
	}
	u := domain.User{ID: a.NewID(), Username: in.Username, PhoneNumber: phone, PasswordHash: hash,
		WebhookSecret: a.NewSecret(), CreatedAt: a.Now()}
	// Claimed only on verification, so an unverified account blocks nobody.
	if err := a.Users.Insert(ctx, userKey(u.Username), u, nil); err != nil {
		if errors.Is(err, persist.ErrExists) {
			return Token{}, errs.E(errs.Conflict, "username is already taken")
		}
		return Token{}, err
	}
	if err := a.firstText(ctx, u); err != nil {
		return Token{}, err
	}
	return a.startSession(ctx, u)
}

// firstText sends a code, or a notice if another account owns the number.
func (a Accounts) firstText(ctx context.Context, u domain.User) error {
	owner, err := a.phoneOwner(ctx, u.PhoneNumber)
	if err != nil {
		return err
	}
	if owner != "" && owner != u.Username {
		err = a.Codes.Notify(ctx, u, "signup-notice-"+u.ID, signUpNoticeText)
	} else {
		err = a.Codes.Send(ctx, u, false)
	}
	if errs.KindOf(err) == errs.TooManyRequests {
		return nil
	}
	return err
}

// phoneOwner is the username that verified phone, or "".
func (a Accounts) phoneOwner(ctx context.Context, phone string) (string, error) {
	c, found, err := a.Phones.Get(ctx, phoneKey(phone))
	if err != nil || !found {
		return "", err
	}
	if holds, err := a.claimHolds(ctx, c, phone); err != nil || !holds {
		return "", err
	}
	return c.Username, nil
}

func (a Accounts) claimHolds(ctx context.Context, c domain.PhoneClaim, phone string) (bool, error) {
	owner, found, err := a.Users.Get(ctx, userKey(c.Username))
	if err != nil {
		return false, err
	}
	return c.Holds(owner, found, phone, a.Now()), nil
}

func (a Accounts) claimPhone(ctx context.Context, phone, username string) error {
	_, err := a.Phones.Update(ctx, phoneKey(phone), func(c *domain.PhoneClaim, exists bool) (*persist.Event, error) {
		holds := false
		if exists && c.Username != username {
			var err error
			if holds, err = a.claimHolds(ctx, *c, phone); err != nil {
				return nil, err
			}
		}
		next, changed, err := c.Take(username, exists, holds, a.Now())
		if err != nil || !changed {
			return nil, cmp.Or(err, persist.ErrNoChange)
		}
		*c = next
		return nil, nil
	})
	return err
}

// dummyHash hides which usernames exist: unknown names hash too.
var (
	dummyHash string
	dummyOnce sync.Once
)

// SignInInput is a sign-in. UnlockCode lifts an account-wide lock.
type SignInInput struct {
	Username, Password, Client, UnlockCode string
}

// SignIn locks a client out of a username after failures, known or not, and
// the account from all clients at a higher bound.
func (a Accounts) SignIn(ctx context.Context, in SignInInput) (Token, error) {
	bad := errs.E(errs.Unauthorized, "wrong username or password")
	// A name sign-up would refuse cannot exist, and cannot reach another key.
	if !a.Rules.Username.Fits(in.Username) || utf8.RuneCountInString(in.Password) > a.Rules.Password.Max {
		return Token{}, bad
	}
	if in.UnlockCode != "" && !a.Rules.Code.Fits(in.UnlockCode) {
		return Token{}, bad
	}
	u, found, err := a.Users.Get(ctx, userKey(in.Username))
	if err != nil {
		return Token{}, err
	}
	// Unknown names keep strikes in memory and wait as long as known ones.
	limits, accountLimits, pace := a.Limits, a.AccountLimits, (*Pace)(nil)
	if a.UnknownNames != nil {
		pace = a.Pace
		if !found {
			limits.Store, accountLimits.Store = a.UnknownNames, a.UnknownNames
		}
	}
	step := func(name string, start time.Time) {
		if found {
			pace.Took(name, time.Since(start))
		} else {
			pace.Wait(ctx, name, start)
		}
	}
	// Reserve before hashing: at most MaxFailures checks per lock window.
	start := time.Now()
	try, err := limits.Reserve(ctx, "signin|"+in.Username+"|"+in.Client)
	if err != nil {
		step("reserve-refused", start)
		return Token{}, err
	}
	accountKey := accountSignInKey(in.Username)
	var account Try
	if accountLimits.MaxFailures > 0 && in.UnlockCode == "" {
		if account, err = accountLimits.Reserve(ctx, accountKey); err != nil {
			try.Abandon(ctx)
			step("reserve-refused-account", start)
			if errs.KindOf(err) == errs.TooManyRequests {
				return Token{}, &errs.Error{Kind: errs.TooManyRequests, RetryAfter: errs.RetryAfterOf(err),
					Message: err.Error(), Cause: ErrAccountLocked}
			}
			return Token{}, err
		}
	}
	step("reserve", start)
	release, err := a.Hashing.Take(in.Client)
	if err != nil {
		start := time.Now()
		try.Abandon(ctx)
		if account.held() {
			account.Abandon(ctx)
		}
		step("abandon", start)
		return Token{}, err
	}
	var ok bool
	if !found {
		dummyOnce.Do(func() { dummyHash, _ = a.Hasher.Hash("not a real password") })
		// Same hash count as a wrong password for a known name.
		a.verifyPassword(dummyHash, in.Password)
	} else {
		ok = a.verifyPassword(u.PasswordHash, in.Password)
	}
	release()
	if !ok {
		start := time.Now()
		if account.held() {
			_ = account.Failed(ctx, bad)
		}
		err := try.Failed(ctx, bad)
		step("failed", start)
		return Token{}, err
	}
	// Checked only after the password, so nobody else can spend its tries.
	if in.UnlockCode != "" {
		if err := a.UnlockCodes.Check(ctx, u.ID, in.UnlockCode); err != nil {
			if errs.KindOf(err) == errs.Unprocessable {
				return Token{}, try.Failed(ctx, err)
			}
			try.Abandon(ctx)
			return Token{}, err
		}
		a.AccountLimits.Lift(ctx, accountKey)
	}
	try.Succeeded(ctx)
	if account.held() {
		account.Succeeded(ctx)
	}
	return a.startSession(ctx, u)
}

func accountSignInKey(username string) string { return "signin-account|" + username }

// RequestUnlockCode answers alike for any username. A live code is kept,
// so nobody can spoil the owner's code.
func (a Accounts) RequestUnlockCode(ctx context.Context, username, client string) error {
	if !a.Rules.Username.Fits(username) {
		return nil
	}
	if err := a.SMSPolicy.Budget.SpendClient(ctx, client); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	later := a.Later
	if later == nil {
		later = func(f func()) { go f() }
	}
	later(func() {
		defer cancel()
		_ = a.sendUnlockCode(ctx, username)
	})
	return nil
}

func (a Accounts) sendUnlockCode(ctx context.Context, username string) error {
	if a.UnlockCodes.Store == nil || a.AccountLimits.Store == nil {
		return nil
	}
	st, _, err := a.AccountLimits.Store.Get(ctx, limitKey(accountSignInKey(username)))
	if err != nil || st.Locked(a.Now()) == nil {
		return err // not locked: nothing to unlock
	}
	u, found, err := a.Users.Get(ctx, userKey(username))
	if err != nil || !found || u.PhoneVerifiedAt == nil {
		return err
	}
	if err := a.SMSPolicy.Budget.SpendAll(ctx); err != nil {
		return err
	}
	return a.UnlockCodes.SendUnlessLive(ctx, u)
}

func (a Accounts) startSession(ctx context.Context, u domain.User) (Token, error) {
	now := a.Now()
	s := domain.NewSession(a.NewID(), u, now)
	var evicted []string
	if a.SessionLists != nil {
		var err error
		if evicted, err = a.listSession(ctx, u.ID, domain.SessionRef{ID: s.ID, CreatedAt: now}); err != nil {
			return Token{}, err
		}
	}
	if err := a.Sessions.Insert(ctx, sessionKey(s.ID), s, nil); err != nil {
		return Token{}, err
	}
	// A password change may have missed this session on the list: end it here.
	if cur, found, err := a.Users.Get(ctx, userKey(u.Username)); err != nil {
		return Token{}, err
	} else if !found || cur.PasswordHash != u.PasswordHash {
		_ = a.SignOut(ctx, s)
		return Token{}, errs.E(errs.Unauthorized, "wrong username or password")
	}
	for _, id := range evicted {
		if err := a.SignOut(ctx, domain.Session{ID: id}); err != nil {
			return Token{}, err
		}
	}
	tok, err := a.Tokens.Issue(s.ID, u.ID, now)
	if err != nil {
		return Token{}, err
	}
	return Token{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(a.IdleTimeout.Seconds())}, nil
}

// Authenticate returns the live session a token names and slides it.
func (a Accounts) Authenticate(ctx context.Context, token string) (domain.Session, error) {
	now := a.Now()
	sid, err := a.Tokens.SessionID(token, now)
	if err != nil {
		return domain.Session{}, err
	}
	s, found, err := a.Sessions.Get(ctx, sessionKey(sid))
	if err != nil {
		return domain.Session{}, err
	}
	// The store's TTL removes idle sessions, but its sweep may lag.
	if !found || !s.Live(now, a.IdleTimeout) {
		return domain.Session{}, domain.ErrSessionEnded
	}
	// Written rarely and with an ETag, so a sign-out in between is never undone.
	if _, slides := s.Slide(now, a.IdleTimeout); slides {
		_, err := a.Sessions.Update(ctx, sessionKey(sid), func(cur *domain.Session, exists bool) (*persist.Event, error) {
			next, slides := cur.Slide(now, a.IdleTimeout)
			if !exists || !slides {
				return nil, persist.ErrNoChange // signed out, or slid meanwhile
			}
			*cur = next
			return nil, nil
		})
		if err != nil {
			return domain.Session{}, err
		}
	}
	if !s.PhoneVerified {
		return a.catchUpVerification(ctx, s)
	}
	return s, nil
}

// catchUpVerification copies a verification made in another session.
func (a Accounts) catchUpVerification(ctx context.Context, s domain.Session) (domain.Session, error) {
	u, found, err := a.Users.Get(ctx, userKey(s.Username))
	if err != nil {
		return domain.Session{}, err
	}
	if !found || u.PhoneVerifiedAt == nil || u.PhoneNumber != s.PhoneNumber {
		return s, nil
	}
	if _, err := a.Sessions.Update(ctx, sessionKey(s.ID), func(cur *domain.Session, exists bool) (*persist.Event, error) {
		if !exists {
			return nil, domain.ErrSessionEnded
		}
		if cur.PhoneVerified {
			return nil, persist.ErrNoChange
		}
		next, err := cur.MarkPhoneVerified()
		if err != nil {
			return nil, err
		}
		*cur = next
		return nil, nil
	}); err != nil {
		return domain.Session{}, err
	}
	s.PhoneVerified = true
	return s, nil
}

// SignOut ends the session.
func (a Accounts) SignOut(ctx context.Context, s domain.Session) error {
	_, err := a.Sessions.Update(ctx, sessionKey(s.ID), func(cur *domain.Session, exists bool) (*persist.Event, error) {
		next, ended := cur.End()
		if !exists || !ended {
			return nil, persist.ErrNoChange
		}
		*cur = next
		return nil, nil
	})
	return err
}

// ErrAccountLocked is why a sign-in fails on an account-wide lock.
var ErrAccountLocked = errors.New("account locked: its owner can ask for an unlock code")

// ErrNoAccount is returned when the session's account is gone.
var ErrNoAccount = errs.E(errs.Unauthorized, "account not found")

// WebhookSecret returns the secret the account's webhooks are signed with.
func (a Accounts) WebhookSecret(ctx context.Context, s domain.Session) (string, error) {
	secret, found, err := WebhookSecrets{Users: a.Users}.WebhookSecret(ctx, s.Username)
	if err == nil && !found {
		err = ErrNoAccount
	}
	return secret, err
}

// WebhookSecrets is the purchase context's port to webhook secrets.
type WebhookSecrets struct {
	Users persist.Store[domain.User]
}

// WebhookSecret returns username's secret; found is false once it is gone.
func (w WebhookSecrets) WebhookSecret(ctx context.Context, username string) (secret string, found bool, err error) {
	u, found, err := w.Users.Get(ctx, userKey(username))
	return u.WebhookSecret, found, err
}

// RotateWebhookSecret replaces the secret for webhooks sent from now on.
func (a Accounts) RotateWebhookSecret(ctx context.Context, s domain.Session) (string, error) {
	u, err := a.Users.Update(ctx, userKey(s.Username), func(u *domain.User, exists bool) (*persist.Event, error) {
		if !exists {
			return nil, ErrNoAccount
		}
		u.WebhookSecret = a.NewSecret()
		return nil, nil
	})
	return u.WebhookSecret, err
}

// VerifyPhone checks an SMS code. Wrong tries also count toward a lock.
func (a Accounts) VerifyPhone(ctx context.Context, s domain.Session, code string) (domain.Session, error) {
	if s.PhoneVerified {
		return s, nil
	}
	limitKey := "verify|" + s.UserID
	if err := a.Limits.Check(ctx, limitKey); err != nil {
		return s, err
	}
	if err := a.Codes.Check(ctx, s.UserID, code); err != nil {
		if errs.KindOf(err) == errs.Unprocessable {
			return s, a.Limits.Fail(ctx, limitKey, err)
		}
		return s, err
	}
	a.Limits.Reset(ctx, limitKey)
	// A crash between claim and mark leaves a claim that lapses.
	if err := a.claimPhone(ctx, s.PhoneNumber, s.Username); err != nil {
		return s, err
	}
	now := a.Now()
	if _, err := a.Users.Update(ctx, userKey(s.Username), func(u *domain.User, exists bool) (*persist.Event, error) {
		if !exists {
			return nil, ErrNoAccount
		}
		next, verified := u.VerifyPhone(now)
		if !verified {
			return nil, persist.ErrNoChange
		}
		*u = next
		return nil, nil
	}); err != nil {
		return s, err
	}
	// Conditional, so a sign-out in between is not undone.
	_, err := a.Sessions.Update(ctx, sessionKey(s.ID), func(cur *domain.Session, exists bool) (*persist.Event, error) {
		if !exists {
			return nil, domain.ErrSessionEnded
		}
		next, err := cur.MarkPhoneVerified()
		if err != nil {
			return nil, err
		}
		*cur = next
		return nil, nil
	})
	s.PhoneVerified = true
	return s, err
}

// ResendCode sends a new code once the cool-down has passed.
func (a Accounts) ResendCode(ctx context.Context, s domain.Session) error {
	if s.PhoneVerified {
		return errs.E(errs.Conflict, "your phone number is already verified")
	}
	u, found, err := a.Users.Get(ctx, userKey(s.Username))
	if err != nil {
		return err
	}
	if !found {
		return ErrNoAccount
	}
	return a.Codes.Send(ctx, u, true)
}

// verifyPassword also tries the text as typed, for pre-normalizing hashes.
func (a Accounts) verifyPassword(hash, password string) bool {
	n := domain.NormalizePassword(password)
	return a.Hasher.Verify(hash, n) || (n != password && a.Hasher.Verify(hash, password))
}
