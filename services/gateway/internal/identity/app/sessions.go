package app

import (
	"context"
	"unicode/utf8"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
)

func sessionListKey(userID string) string { return "sessions-of|" + userID }

// listSession lists a session before it is stored. A crash in between
// leaves a dead name; the other order could leave a session nobody can end.
func (a Accounts) listSession(ctx context.Context, userID string, ref domain.SessionRef) ([]string, error) {
	var evicted []string
	_, err := a.SessionLists.Update(ctx, sessionListKey(userID), func(l *domain.SessionList, _ bool) (*persist.Event, error) {
		*l, evicted = l.Add(ref, a.SessionMaxAge)
		return nil, nil
	})
	return evicted, err
}

// endSessions ends the listed sessions. One started meanwhile stays alive.
func (a Accounts) endSessions(ctx context.Context, userID string) error {
	if a.SessionLists == nil {
		return errs.E(errs.Unavailable, "sessions are not listed here")
	}
	l, _, err := a.SessionLists.Get(ctx, sessionListKey(userID))
	if err != nil {
		return err
	}
	ended := map[string]bool{}
	for _, r := range l.Sessions {
		if err := a.SignOut(ctx, domain.Session{ID: r.ID}); err != nil {
			return err
		}
		ended[r.ID] = true
	}
	_, err = a.SessionLists.Update(ctx, sessionListKey(userID), func(l *domain.SessionList, exists bool) (*persist.Event, error) {
		if !exists {
			return nil, persist.ErrNoChange
		}
		*l = l.Without(ended)
		return nil, nil
	})
	return err
}

// SignOutEverywhere ends every session of the caller's account.
func (a Accounts) SignOutEverywhere(ctx context.Context, s domain.Session) error {
	return a.endSessions(ctx, s.UserID)
}

// PasswordChange is the current password and the new one.
type PasswordChange struct {
	CurrentPassword string
	NewPassword     string
}

// ChangePassword replaces the password and ends every other session. Wrong
// current passwords count like failed sign-ins, so a stolen session cannot
// guess the password.
func (a Accounts) ChangePassword(ctx context.Context, s domain.Session, in PasswordChange) (Token, error) {
	in.NewPassword = domain.NormalizePassword(in.NewPassword)
	if err := a.Rules.NewPassword.Check(in.NewPassword); err != nil {
		return Token{}, err
	}
	if err := domain.CheckPasswordText("newPassword", in.NewPassword); err != nil {
		return Token{}, err
	}
	if utf8.RuneCountInString(in.CurrentPassword) > a.Rules.Password.Max {
		return Token{}, errs.E(errs.Forbidden, "the current password is wrong")
	}
	try, err := a.Limits.Reserve(ctx, "password|"+s.Username)
	if err != nil {
		return Token{}, err
	}
	u, found, err := a.Users.Get(ctx, userKey(s.Username))
	if err != nil || !found {
		try.Abandon(ctx)
		if err == nil {
			err = ErrNoAccount
		}
		return Token{}, err
	}
	release, err := a.Hashing.Take("password|" + s.Username)
	if err != nil {
		try.Abandon(ctx)
		return Token{}, err
	}
	ok := a.verifyPassword(u.PasswordHash, in.CurrentPassword)
	var hash string
	if ok {
		hash, err = a.Hasher.Hash(in.NewPassword)
	}
	release()
	if !ok {
		return Token{}, try.Failed(ctx, errs.E(errs.Forbidden, "the current password is wrong"))
	}
	try.Succeeded(ctx)
	if err != nil {
		return Token{}, err
	}
	u, err = a.Users.Update(ctx, userKey(s.Username), func(cur *domain.User, exists bool) (*persist.Event, error) {
		if !exists {
			return nil, ErrNoAccount
		}
		cur.PasswordHash = hash
		return nil, nil
	})
	if err != nil {
		return Token{}, err
	}
	if err := a.endSessions(ctx, u.ID); err != nil {
		return Token{}, err
	}
	return a.startSession(ctx, u)
}
