// Package app is gateway's identity use cases: accounts, sessions and
// phone codes. It knows neither Dapr nor HTTP.
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

// Store is a typed state store view (daprx.Store satisfies it).
type Store[T any] interface {
	Get(ctx context.Context, key string) (T, bool, error)
	// GetMany reads keys in one call; a key with no value is absent.
	GetMany(ctx context.Context, keys []string) (map[string]T, error)
	Insert(ctx context.Context, key string, v T, ev *persist.Event) error
	// InsertAfter is Insert once before succeeded, before running
	// alongside the outbox's preparation of ev.
	InsertAfter(ctx context.Context, key string, v T, ev *persist.Event, before func(context.Context) error) error
	Update(ctx context.Context, key string, fn func(*T, bool) (*persist.Event, error)) (T, error)
}

// Hasher hashes and checks passwords.
type Hasher interface {
	Hash(password string) (string, error)
	Verify(hash, password string) bool
}

// Tokens issues and reads access tokens that name a session.
type Tokens interface {
	Issue(sessionID, userID string, now time.Time) (string, error)
	// SessionID returns the session a valid token names, or an Unauthorized
	// error that says what is wrong with it.
	SessionID(token string, now time.Time) (string, error)
}

// Accounts signs users up and in, verifies their phones, and checks their
// sessions.
type Accounts struct {
	Users    Store[domain.User]
	Phones   Store[domain.PhoneClaim]
	Sessions Store[domain.Session]
	// SessionLists names each account's sessions (sign-out everywhere).
	SessionLists Store[domain.SessionList]
	// SessionMaxAge is a token's lifetime: no session older is usable.
	SessionMaxAge time.Duration
	Hasher        Hasher
	// Hashing bounds the password hashes computed at once (sign-up,
	// sign-in); nil: no bound.
	Hashing     *Slots
	Tokens      Tokens
	Now         func() time.Time
	NewID       func() string
	NewSecret   func() string
	IdleTimeout time.Duration
	// Rules: what a username and a password must be (from the OpenAPI
	// document).
	Rules domain.AccountRules
	// Phone verification codes and the limits on guessing.
	Codes  Codes
	Limits Limits
	// AccountLimits counts a username's failed sign-ins from every client
	// together, with a higher bound than Limits (0 MaxFailures: none). It
	// stops guessing from many addresses. The owner lifts its lock with a
	// code sent to their phone (UnlockCodes), so nobody can lock them out.
	AccountLimits Limits
	UnlockCodes   Codes
	// UnknownNames keeps the strikes of usernames without an account
	// (nil: the state store, as for known ones), and Pace makes their
	// steps as slow as a known name's.
	UnknownNames *MemStrikes
	Pace         *Pace
	// SMSPolicy: which numbers get texts, and the anonymous text budget.
	SMSPolicy SMSPolicy
	// Later runs work the answer does not wait for (nil: a goroutine).
	Later func(func())
}

// SignUpInput is who signs up, and from where (for the text budget).
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

// NormalizePhone returns the number in E.164 (domain.NormalizePhone).
func NormalizePhone(raw string) (string, error) { return domain.NormalizePhone(raw) }

// SignUp creates the account; the username is unique (first write wins).
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
	// The cheap refusal before the costly hash (the insert below still
	// decides a race).
	if _, found, err := a.Users.Get(ctx, userKey(in.Username)); err != nil {
		return Token{}, err
	} else if found {
		return Token{}, errs.E(errs.Conflict, "username is already taken")
	}
	// A sign-up texts: it spends the anonymous text budget before anything
	// is made.
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
	// The number is not claimed here: it belongs to the account that
	// verifies it (VerifyPhone), so an account that never verifies blocks
	// nobody, and the answer is the same whether or not the number already
	// has an owner.
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

// firstText is the text a sign-up sends: a verification code, or a notice
// to the owner when another account already verified the number. A daily
// cap reached is not an error here: the account exists, and asking for a
// code again says when one can be sent.
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

// phoneOwner is the username that verified phone, or "" (a claim left by
// a verification that died halfway is no owner: domain.ClaimAbandonedAfter).
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

// claimHolds tells whether claim c on phone still stands (PhoneClaim.Holds).
func (a Accounts) claimHolds(ctx context.Context, c domain.PhoneClaim, phone string) (bool, error) {
	owner, found, err := a.Users.Get(ctx, userKey(c.Username))
	if err != nil {
		return false, err
	}
	return c.Holds(owner, found, phone, a.Now()), nil
}

// claimPhone makes phone username's, unless another account verified it
// (PhoneClaim.Take).
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

// dummyHash keeps a sign-in for an unknown username as slow as one for a
// known username, so timing does not tell which usernames exist.
var (
	dummyHash string
	dummyOnce sync.Once
)

// SignInInput is a sign-in: the client is who sent it (an address, for
// the per-client count), the unlock code one sent to the account's phone
// to lift an account-wide lock (optional).
type SignInInput struct {
	Username, Password, Client, UnlockCode string
}

// SignIn checks the password and starts a session. Failures count per
// username and client: past LOCK_AFTER_FAILURES that client is locked out
// of that username (429), known or not, so the lock does not tell which
// usernames exist, and the owner's own client still gets in. Failures from
// every client together lock the username at a higher bound; the owner
// lifts that lock with an unlock code (RequestUnlockCode).
func (a Accounts) SignIn(ctx context.Context, in SignInInput) (Token, error) {
	bad := errs.E(errs.Unauthorized, "wrong username or password")
	// A name sign-up would refuse cannot exist: answered at once, it
	// counts against nobody (and cannot reach another key: '|').
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
	// A name without an account keeps its strikes in memory: the same
	// rules and answers, no stored write for a name anyone can make up.
	// Each step for it waits as long as the store took for a known name.
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
	// Tries are reserved before any hash is computed: however many come
	// at once, at most MaxFailures passwords are checked per lock window.
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
		// As many hashes as a known username's wrong password costs
		// (two for text that normalizing changes): the time tells nothing.
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
	// The password is right. An unlock code is looked at only now, so that
	// nobody without the password can spend its tries or learn anything
	// from it.
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

// accountSignInKey names the account-wide strikes of username's sign-ins.
func accountSignInKey(username string) string { return "signin-account|" + username }

// RequestUnlockCode texts an unlock code to the verified phone of a locked
// account. The answer is the same, and as quick, for any username: only
// the caller's text budget is spent before it. A live code is not
// replaced, so nobody can spoil the owner's code by asking for another.
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
	// A password change that read the session list before this session was
	// on it did not end it: if the password changed since u was read, the
	// session ends now.
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
	// The store's TTL removes idle sessions; the check covers the moment
	// before its sweep runs.
	if !found || !s.Live(now, a.IdleTimeout) {
		return domain.Session{}, domain.ErrSessionEnded
	}
	// The slide is written only every domain.SlideEvery, and conditionally
	// (ETag): a sign-out in between is never undone.
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

// catchUpVerification: a session still unverified may belong to an account
// another of its sessions has verified since (each session keeps a copy of
// the flag). The account is the truth: read it, and note it on the session
// once. Only unverified sessions pay the read.
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

// SignOut ends the session: the token is refused from now on.
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

// ErrAccountLocked is the cause of a sign-in refused because the account
// itself is locked, from every client: its owner can lift the lock with an
// unlock code sent by SMS.
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

// WebhookSecrets reads the secrets customers' webhooks are signed with,
// for the purchase context's deliveries (its WebhookSecrets port).
type WebhookSecrets struct {
	Users Store[domain.User]
}

// WebhookSecret is username's secret; found is false once the account is gone.
func (w WebhookSecrets) WebhookSecret(ctx context.Context, username string) (secret string, found bool, err error) {
	u, found, err := w.Users.Get(ctx, userKey(username))
	return u.WebhookSecret, found, err
}

// RotateWebhookSecret replaces the secret; webhooks sent from now on are
// signed with the new one only.
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

// VerifyPhone checks a code sent by SMS. Right: the account's phone is
// verified (and the caller's session says so). Wrong: one of the code's
// tries is spent; wrong tries across codes also count toward a lock.
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
	// The number becomes this account's now, unless another verified it
	// first: claim, then mark the account (a crash in between leaves a
	// claim that lapses after domain.ClaimAbandonedAfter).
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
	// Conditional, like every later write of a session: a sign-out in
	// between is not undone (and some stores refuse an unconditional write
	// to a key once it was written conditionally).
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

// ResendCode sends a new code, once the cool-down since the last has passed.
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

// verifyPassword checks password, normalized, against hash. An account made
// before passwords were normalized may hold the hash of another form of
// the same text: the password as typed is tried too, and only then (a
// second hash only for text that normalizing changes).
func (a Accounts) verifyPassword(hash, password string) bool {
	n := domain.NormalizePassword(password)
	return a.Hasher.Verify(hash, n) || (n != password && a.Hasher.Verify(hash, password))
}
