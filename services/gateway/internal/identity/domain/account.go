// Package domain holds gateway's identity rules.
package domain

// Methods take a value and return it as it becomes; the time is passed in.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/services/gateway/internal/customer"
)

// User is an account.
type User struct {
	ID           string
	Username     string
	PhoneNumber  string
	PasswordHash string
	// WebhookSecret is "whsec_" plus base64 of 24 random bytes (Standard Webhooks).
	WebhookSecret   string
	PhoneVerifiedAt *time.Time
	CreatedAt       time.Time
}

// VerifyPhone marks the number verified; false if it was already.
func (u User) VerifyPhone(now time.Time) (User, bool) {
	if u.PhoneVerifiedAt != nil {
		return u, false
	}
	u.PhoneVerifiedAt = &now
	return u, true
}

// TextRule is a field's pattern and length, read from the OpenAPI document.
type TextRule struct {
	Field    string
	Pattern  *regexp.Regexp
	Min, Max int
	Says     string // "must be …"
}

// Fits tells whether v keeps the rule.
func (r TextRule) Fits(v string) bool {
	if r.Pattern != nil && !r.Pattern.MatchString(v) {
		return false
	}
	n := utf8.RuneCountInString(v)
	return n >= r.Min && (r.Max == 0 || n <= r.Max)
}

// Check is Fits as an Invalid error that states the rule.
func (r TextRule) Check(v string) error {
	if r.Fits(v) {
		return nil
	}
	return errs.E(errs.Invalid, "%s %s", r.Field, r.Says)
}

// AccountRules are the rules of an account's fields.
type AccountRules struct {
	Username TextRule
	Password TextRule
	// NewPassword applies to a password change.
	NewPassword TextRule
	// Code is an SMS code, to verify a phone or unlock an account.
	Code TextRule
}

// NormalizePhone returns the number in E.164.
func NormalizePhone(raw string) (string, error) { return customer.NormalizePhone(raw) }

// PhoneClaim makes a phone number belong to one account.
type PhoneClaim struct {
	Username  string
	ClaimedAt time.Time
}

// ClaimAbandonedAfter frees a claim whose account write never came.
const ClaimAbandonedAfter = time.Minute

// ErrPhoneTaken is told only to whoever proved they hold the phone.
var ErrPhoneTaken = errs.E(errs.Conflict, "this phone number is already verified by another account: sign in to that one, or ask the bank to release the number")

// Holds: the owner verified the number, or the claim is too fresh to drop.
func (c PhoneClaim) Holds(owner User, found bool, phone string, now time.Time) bool {
	return found && owner.PhoneNumber == phone && owner.PhoneVerifiedAt != nil || now.Sub(c.ClaimedAt) < ClaimAbandonedAfter
}

// Take claims the number for username. The first verification wins.
func (c PhoneClaim) Take(username string, exists, holds bool, now time.Time) (PhoneClaim, bool, error) {
	if exists && c.Username == username {
		return c, false, nil
	}
	if exists && holds {
		return c, false, ErrPhoneTaken
	}
	return PhoneClaim{Username: username, ClaimedAt: now}, true, nil
}

// Session is the server side of an access token.
type Session struct {
	ID          string
	UserID      string
	Username    string
	PhoneNumber string
	// PhoneVerified is needed for purchases and voucher lists.
	PhoneVerified bool
	CreatedAt     time.Time
	// LastSeen is zero once signed out.
	LastSeen time.Time
}

// ErrSessionEnded refuses a session that timed out or was signed out.
var ErrSessionEnded = errs.E(errs.Unauthorized, "session expired or signed out: sign in again")

// NewSession starts a session of u at now.
func NewSession(id string, u User, now time.Time) Session {
	return Session{ID: id, UserID: u.ID, Username: u.Username, PhoneNumber: u.PhoneNumber,
		PhoneVerified: u.PhoneVerifiedAt != nil, CreatedAt: now, LastSeen: now}
}

// Customer is what the purchase context is told of the session.
func (s Session) Customer() customer.Session {
	return customer.Session{UserID: s.UserID, Username: s.Username, PhoneNumber: s.PhoneNumber, PhoneVerified: s.PhoneVerified}
}

// Live tells whether the session is signed in and seen within idle.
func (s Session) Live(now time.Time, idle time.Duration) bool {
	return !s.LastSeen.IsZero() && now.Sub(s.LastSeen) <= idle
}

// SlideEvery limits LastSeen writes: a write per request doubled the state
// traffic of the accept path.
func SlideEvery(idle time.Duration) time.Duration {
	return min(idle/20, 30*time.Second)
}

// Slide records a request at now; false means nothing to write.
func (s Session) Slide(now time.Time, idle time.Duration) (Session, bool) {
	if s.LastSeen.IsZero() || now.Sub(s.LastSeen) < SlideEvery(idle) {
		return s, false
	}
	s.LastSeen = now
	return s, true
}

// End signs the session out; false if it was already.
func (s Session) End() (Session, bool) {
	if s.LastSeen.IsZero() {
		return s, false
	}
	s.LastSeen = time.Time{}
	return s, true
}

// MarkPhoneVerified notes the verified number; a signed-out session stays out.
func (s Session) MarkPhoneVerified() (Session, error) {
	if s.LastSeen.IsZero() {
		return s, ErrSessionEnded
	}
	s.PhoneVerified = true
	return s, nil
}

// MaxSessions is how many sessions an account may have; more end the oldest.
const MaxSessions = 20

// SessionList lists an account's sessions, oldest first, so all can be ended.
type SessionList struct {
	Sessions []SessionRef
}

// SessionRef names one session of a SessionList.
type SessionRef struct {
	ID        string
	CreatedAt time.Time
}

// Add lists a session and returns those past MaxSessions, to be ended.
func (l SessionList) Add(ref SessionRef, maxAge time.Duration) (SessionList, []string) {
	kept := slices.DeleteFunc(slices.Clone(l.Sessions), func(r SessionRef) bool {
		return maxAge > 0 && ref.CreatedAt.Sub(r.CreatedAt) > maxAge
	})
	kept = append(kept, ref)
	var evicted []string
	if n := len(kept) - MaxSessions; n > 0 {
		for _, r := range kept[:n] {
			evicted = append(evicted, r.ID)
		}
		kept = kept[n:]
	}
	return SessionList{Sessions: kept}, evicted
}

// Without takes ended sessions off the list.
func (l SessionList) Without(ended map[string]bool) SessionList {
	return SessionList{Sessions: slices.DeleteFunc(slices.Clone(l.Sessions), func(r SessionRef) bool { return ended[r.ID] })}
}

// Strikes counts failures of one kind for one key.
type Strikes struct {
	Failures    int
	LockedUntil time.Time
	Locks       int
	// Pending holds when each unsettled try lapses, so a dead try is forgotten.
	Pending []time.Time
}

// LockRules double each lock up to MaxLock, so guessing slows down.
type LockRules struct {
	MaxFailures int
	Lock        time.Duration
	MaxLock     time.Duration
}

func lockedFor(wait time.Duration) error {
	return errs.Later(wait, "too many failed tries: locked for %s", wait.Round(time.Second))
}

// ErrBusy refuses a try while MaxFailures others are in progress.
var ErrBusy = errs.Later(time.Second, "too many tries at once: try again in a second")

// Locked refuses a key locked at now.
func (st Strikes) Locked(now time.Time) error {
	if wait := st.LockedUntil.Sub(now); wait > 0 {
		return lockedFor(wait)
	}
	return nil
}

// Reserve allows at most MaxFailures checks between two locks.
func (r LockRules) Reserve(st Strikes, now, until time.Time) (Strikes, error) {
	if err := st.Locked(now); err != nil {
		return st, err
	}
	pending := slices.DeleteFunc(slices.Clone(st.Pending), func(u time.Time) bool { return !u.After(now) })
	if st.Failures+len(pending) >= r.MaxFailures {
		return st, ErrBusy
	}
	st.Pending = append(pending, until)
	return st, nil
}

// Settle forgets a reservation; a try never made counts neither way.
func (st Strikes) Settle(until time.Time) Strikes {
	if i := slices.IndexFunc(st.Pending, until.Equal); i >= 0 {
		st.Pending = slices.Delete(slices.Clone(st.Pending), i, i+1)
	}
	return st
}

// Succeed forgets the key's failures.
func (st Strikes) Succeed(until time.Time) Strikes {
	st = st.Settle(until)
	st.Failures = 0
	return st
}

// Fail returns the lock it set off. A failure during a lock adds nothing,
// so parallel tries do not double it.
func (r LockRules) Fail(st Strikes, until, now time.Time) (Strikes, time.Duration) {
	st = st.Settle(until)
	if now.Before(st.LockedUntil) {
		return st, st.LockedUntil.Sub(now)
	}
	st.Failures++
	if st.Failures < r.MaxFailures {
		return st, 0
	}
	lock := min(r.Lock<<min(st.Locks, 10), r.MaxLock)
	st.Failures, st.Locks, st.LockedUntil = 0, st.Locks+1, now.Add(lock)
	return st, lock
}

// LockError is the refusal for a new lock, or cause if there is none.
func LockError(lock time.Duration, cause error) error {
	if lock > 0 {
		return lockedFor(lock)
	}
	return cause
}

// Lift ends the lock once the owner proved who they are by SMS code.
func (st Strikes) Lift() Strikes {
	st.Failures, st.LockedUntil = 0, time.Time{}
	return st
}

// PhoneCode is an account's live one-time code. Only its hash is kept.
type PhoneCode struct {
	UserID    string
	Hash      string
	Seq       int
	Tries     int
	Used      bool
	SentAt    time.Time
	ExpiresAt time.Time
}

func hashCode(userID, code string) string {
	mac := hmac.New(sha256.New, []byte(userID))
	mac.Write([]byte(code))
	return hex.EncodeToString(mac.Sum(nil))
}

// Replace is the code that replaces pc, with the next sequence number.
func (pc PhoneCode) Replace(userID, code string, now time.Time, ttl time.Duration) PhoneCode {
	return PhoneCode{UserID: userID, Hash: hashCode(userID, code), Seq: pc.Seq + 1, SentAt: now, ExpiresAt: now.Add(ttl)}
}

// CoolingDown refuses a new code during the cool-down.
func (pc PhoneCode) CoolingDown(now time.Time, cooldown time.Duration) error {
	since := now.Sub(pc.SentAt)
	if since >= cooldown {
		return nil
	}
	wait := cooldown - since
	return errs.Later(wait, "a code was sent %s ago: ask again in %s", since.Round(time.Second), wait.Round(time.Second))
}

// Live tells whether pc can still be typed in at now.
func (pc PhoneCode) Live(now time.Time, maxTries int) bool {
	return !pc.Used && pc.Tries < maxTries && now.Before(pc.ExpiresAt)
}

// Check spends one try; changed says pc must be written.
func (pc PhoneCode) Check(exists bool, userID, code string, now time.Time, maxTries int) (next PhoneCode, changed bool, err error) {
	switch {
	case !exists || now.After(pc.ExpiresAt):
		return pc, false, errs.E(errs.Unprocessable, "no live code: ask for a new one")
	case pc.Used:
		return pc, false, errs.E(errs.Unprocessable, "this code was already used: ask for a new one")
	case pc.Tries >= maxTries:
		return pc, false, errs.E(errs.Unprocessable, "this code had %d wrong tries: ask for a new one", maxTries)
	}
	if hmac.Equal([]byte(hashCode(userID, code)), []byte(pc.Hash)) {
		pc.Used = true
		return pc, true, nil
	}
	pc.Tries++
	return pc, true, errs.E(errs.Unprocessable, "wrong code: %d tries left", maxTries-pc.Tries)
}
