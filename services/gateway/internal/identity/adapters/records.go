package adapters

import (
	"time"

	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/gateway/internal/daily"
	"github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
)

// Records keep their domain type's fields in the same order, so the two
// convert; only the tags are the store's.

// UserRecord is an account.
type UserRecord struct {
	ID              string     `json:"id"`
	Username        string     `json:"username"`
	PhoneNumber     string     `json:"phoneNumber"`
	PasswordHash    string     `json:"passwordHash"`
	WebhookSecret   string     `json:"webhookSecret"`
	PhoneVerifiedAt *time.Time `json:"phoneVerifiedAt,omitempty"`
	CreatedAt       time.Time  `json:"createdAt"`
}

// PhoneClaimRecord ties a phone number to one account.
type PhoneClaimRecord struct {
	Username  string    `json:"username"`
	ClaimedAt time.Time `json:"claimedAt"`
}

// SessionRecord is the server side of an access token.
type SessionRecord struct {
	ID            string    `json:"id"`
	UserID        string    `json:"userId"`
	Username      string    `json:"username"`
	PhoneNumber   string    `json:"phoneNumber"`
	PhoneVerified bool      `json:"phoneVerified"`
	CreatedAt     time.Time `json:"createdAt"`
	LastSeen      time.Time `json:"lastSeen"`
}

// SessionListRecord is the sessions an account started.
type SessionListRecord struct {
	Sessions []SessionRefRecord `json:"sessions"`
}

// SessionRefRecord names one session of a list.
type SessionRefRecord struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
}

// StrikesRecord counts failures for one key.
type StrikesRecord struct {
	Failures    int         `json:"failures"`
	LockedUntil time.Time   `json:"lockedUntil"`
	Locks       int         `json:"locks"`
	Pending     []time.Time `json:"pending,omitempty"`
}

// PhoneCodeRecord is a live one-time code, hashed.
type PhoneCodeRecord struct {
	UserID    string    `json:"userId"`
	Hash      string    `json:"hash"`
	Seq       int       `json:"seq"`
	Tries     int       `json:"tries"`
	Used      bool      `json:"used"`
	SentAt    time.Time `json:"sentAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// CountRecord is how many of something happened in one period.
type CountRecord struct {
	N int `json:"n"`
}

// converted keeps T in records R that convert to and from it.
func converted[T, R any](records persist.Store[R], toRecord func(T) R, toDomain func(R) T) persist.Mapped[T, R] {
	return persist.Mapped[T, R]{Records: records, ToRecord: toRecord, ToDomain: toDomain}
}

// Users keeps accounts in records.
func Users(records persist.Store[UserRecord]) persist.Mapped[domain.User, UserRecord] {
	return converted(records, func(v domain.User) UserRecord { return UserRecord(v) }, func(r UserRecord) domain.User { return domain.User(r) })
}

// PhoneClaims keeps phone claims in records.
func PhoneClaims(records persist.Store[PhoneClaimRecord]) persist.Mapped[domain.PhoneClaim, PhoneClaimRecord] {
	return converted(records, func(v domain.PhoneClaim) PhoneClaimRecord { return PhoneClaimRecord(v) },
		func(r PhoneClaimRecord) domain.PhoneClaim { return domain.PhoneClaim(r) })
}

// Sessions keeps sessions in records.
func Sessions(records persist.Store[SessionRecord]) persist.Mapped[domain.Session, SessionRecord] {
	return converted(records, func(v domain.Session) SessionRecord { return SessionRecord(v) },
		func(r SessionRecord) domain.Session { return domain.Session(r) })
}

// SessionLists keeps session lists; an empty list stays null or [] as stored.
func SessionLists(records persist.Store[SessionListRecord]) persist.Mapped[domain.SessionList, SessionListRecord] {
	return converted(records,
		func(v domain.SessionList) SessionListRecord {
			r := SessionListRecord{}
			if v.Sessions != nil {
				r.Sessions = make([]SessionRefRecord, len(v.Sessions))
				for i, s := range v.Sessions {
					r.Sessions[i] = SessionRefRecord(s)
				}
			}
			return r
		},
		func(r SessionListRecord) domain.SessionList {
			v := domain.SessionList{}
			if r.Sessions != nil {
				v.Sessions = make([]domain.SessionRef, len(r.Sessions))
				for i, s := range r.Sessions {
					v.Sessions[i] = domain.SessionRef(s)
				}
			}
			return v
		})
}

// Strikes keeps failure counts in records.
func Strikes(records persist.Store[StrikesRecord]) persist.Mapped[domain.Strikes, StrikesRecord] {
	return converted(records, func(v domain.Strikes) StrikesRecord { return StrikesRecord(v) },
		func(r StrikesRecord) domain.Strikes { return domain.Strikes(r) })
}

// PhoneCodes keeps one-time codes in records.
func PhoneCodes(records persist.Store[PhoneCodeRecord]) persist.Mapped[domain.PhoneCode, PhoneCodeRecord] {
	return converted(records, func(v domain.PhoneCode) PhoneCodeRecord { return PhoneCodeRecord(v) },
		func(r PhoneCodeRecord) domain.PhoneCode { return domain.PhoneCode(r) })
}

// Counts keeps counts in records.
func Counts(records persist.Store[CountRecord]) persist.Mapped[daily.Count, CountRecord] {
	return converted(records, func(v daily.Count) CountRecord { return CountRecord(v) },
		func(r CountRecord) daily.Count { return daily.Count(r) })
}
