package adapters

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bankabc/vouchers/kit/errs"
)

// Issuer is the iss claim of our tokens.
const Issuer = "bankabc-vouchers-gateway"

// JWT issues HS256 tokens that name a server-side session. The session, not
// the token's lifetime, decides when it ends.
type JWT struct {
	KeyID    string
	Key      []byte
	Lifetime time.Duration
}

type claims struct {
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// Issue signs a token for the session.
func (j JWT) Issue(sessionID, userID string, now time.Time) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{SessionID: sessionID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: Issuer, Subject: userID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(j.Lifetime)),
	}})
	t.Header["kid"] = j.KeyID
	return t.SignedString(j.Key)
}

// SessionID checks the token and returns the session it names. The error
// says which check failed, never anything about the key.
func (j JWT) SessionID(token string, now time.Time) (string, error) {
	// Name a refused algorithm before the library calls it "signature invalid".
	if unverified, _, err := jwt.NewParser().ParseUnverified(token, &claims{}); err == nil &&
		unverified.Method.Alg() != jwt.SigningMethodHS256.Alg() {
		return "", errs.E(errs.Unauthorized, "token algorithm %q is not accepted", unverified.Method.Alg())
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != j.KeyID {
			return nil, errors.New("unknown key id")
		}
		return j.Key, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	switch {
	case err == nil && c.SessionID != "":
		return c.SessionID, nil
	case err == nil:
		return "", errs.E(errs.Unauthorized, "token names no session")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "", errs.E(errs.Unauthorized, "token is malformed")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "", errs.E(errs.Unauthorized, "token signature is invalid")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "", errs.E(errs.Unauthorized, "token is signed with an unknown key or algorithm")
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", errs.E(errs.Unauthorized, "token has expired")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "", errs.E(errs.Unauthorized, "token has the wrong issuer")
	default:
		return "", errs.E(errs.Unauthorized, "token is invalid")
	}
}
