package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/persist"
)

// PhoneCode is the live verification code of one account. Only its hash is
// kept; the store's TTL removes it when it expires.
type PhoneCode struct {
	UserID    string    `json:"userId"`
	Hash      string    `json:"hash"`
	Seq       int       `json:"seq"`
	Tries     int       `json:"tries"`
	Used      bool      `json:"used"`
	SentAt    time.Time `json:"sentAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Codes sends and checks phone verification codes. A new code and its SMS
// are one state transaction (the deliveries store's outbox to send-sms).
type Codes struct {
	// Store has the code's lifetime as its TTL.
	Store    Store[PhoneCode]
	Now      func() time.Time
	NewCode  func() string // six digits
	TTL      time.Duration
	Cooldown time.Duration
	MaxTries int
	// Kind names what the codes are for, in their keys and SMS ids
	// ("phone-code" if empty: phone verification); Text writes the SMS
	// (codeText if nil).
	Kind string
	Text func(code string, ttl time.Duration) string
	// Daily caps the texts a day (nil: no cap).
	Daily *DailyCaps
}

func (c Codes) kind() string {
	if c.Kind == "" {
		return "phone-code"
	}
	return c.Kind
}

func (c Codes) key(userID string) string { return c.kind() + "|" + userID }

func hashCode(userID, code string) string {
	mac := hmac.New(sha256.New, []byte(userID))
	mac.Write([]byte(code))
	return hex.EncodeToString(mac.Sum(nil))
}

// Send makes a new code for u and texts it. resend: honour the cool-down.
func (c Codes) Send(ctx context.Context, u User, resend bool) error {
	code := c.NewCode()
	text := codeText
	if c.Text != nil {
		text = c.Text
	}
	if resend {
		// Checked again in the write below; looked at first too, so that a
		// refused resend does not spend the day's cap.
		if pc, _, found, err := c.Store.Get(ctx, c.key(u.ID)); err == nil && found {
			if err := c.coolingDown(pc, c.Now()); err != nil {
				return err
			}
		}
	}
	if err := c.Daily.take(ctx, u); err != nil {
		return err
	}
	_, err := c.Store.Update(ctx, c.key(u.ID), func(pc *PhoneCode, exists bool) (*persist.Event, error) {
		now := c.Now()
		if resend && exists {
			if err := c.coolingDown(*pc, now); err != nil {
				return nil, err
			}
		}
		*pc = PhoneCode{UserID: u.ID, Hash: hashCode(u.ID, code), Seq: pc.Seq + 1, SentAt: now, ExpiresAt: now.Add(c.TTL)}
		return &persist.Event{Topic: events.TopicSendSMS, Type: events.TypeSendSMS, Data: events.SendSMS{
			MessageID:   fmt.Sprintf("%s-%s-%d", c.kind(), u.ID, pc.Seq),
			PhoneNumber: u.PhoneNumber,
			Text:        text(code, c.TTL),
		}}, nil
	})
	return err
}

// coolingDown refuses a new code while the cool-down since pc was sent runs.
func (c Codes) coolingDown(pc PhoneCode, now time.Time) error {
	since := now.Sub(pc.SentAt)
	if since >= c.Cooldown {
		return nil
	}
	wait := c.Cooldown - since
	return errs.Later(wait, "a code was sent %s ago: ask again in %s", since.Round(time.Second), wait.Round(time.Second))
}

// SendUnlessLive sends a new code unless a live, unused one with tries
// left is there: asking again and again cannot replace the one the owner
// is typing in.
func (c Codes) SendUnlessLive(ctx context.Context, u User) error {
	pc, _, found, err := c.Store.Get(ctx, c.key(u.ID))
	if err != nil {
		return err
	}
	if found && !pc.Used && pc.Tries < c.MaxTries && c.Now().Before(pc.ExpiresAt) {
		return nil
	}
	return c.Send(ctx, u, false)
}

// Notify texts u a message that carries no code, once per id (within
// the codes' TTL), under the same daily caps as the codes.
func (c Codes) Notify(ctx context.Context, u User, id string, text func() string) error {
	if err := c.Daily.take(ctx, u); err != nil {
		return err
	}
	now := c.Now()
	err := c.Store.Insert(ctx, "notice|"+id, PhoneCode{UserID: u.ID, SentAt: now, ExpiresAt: now.Add(c.TTL), Used: true},
		&persist.Event{Topic: events.TopicSendSMS, Type: events.TypeSendSMS, Data: events.SendSMS{
			MessageID: id, PhoneNumber: u.PhoneNumber, Text: text()}})
	if errors.Is(err, persist.ErrExists) {
		return nil
	}
	return err
}

// Count is how many of something happened in one period (a day).
type Count struct {
	N int `json:"n"`
}

// DailyCaps bounds the texts with codes (and notices) a day: per account
// and per phone number (zero: no cap). Texts are money and a nuisance:
// without a cap, a sign-up loop or a resend loop texts a number all day.
type DailyCaps struct {
	// Name keeps these caps apart from others in the same store ("texts"
	// if empty).
	Name string
	// Store has a TTL of two days.
	Store      Store[Count]
	Now        func() time.Time
	PerAccount int
	PerNumber  int
}

func (d *DailyCaps) take(ctx context.Context, u User) error {
	if d == nil {
		return nil
	}
	day := d.Now().UTC().Format("2006-01-02")
	name := d.Name
	if name == "" {
		name = "texts"
	}
	limit, err := spend(ctx, d.Store, []quota{
		{name + "-account|" + u.ID + "|" + day, "this account", d.PerAccount},
		{name + "-number|" + u.PhoneNumber + "|" + day, "this phone number", d.PerNumber},
	})
	if err != nil || limit == nil {
		return err
	}
	return errs.Later(untilTomorrow(d.Now()), "%d texts to %s today already: try again tomorrow", limit.max, limit.what)
}

// quota is one count of a period and its bound (zero: none).
type quota struct {
	key, what string
	max       int
}

// spend counts one against each quota in turn, and returns the first that
// was already full (nothing more is counted then), or nil.
func spend(ctx context.Context, store Store[Count], quotas []quota) (*quota, error) {
	for i, q := range quotas {
		if q.max <= 0 {
			continue
		}
		full := false
		if _, err := store.Update(ctx, q.key, func(n *Count, _ bool) (*persist.Event, error) {
			if full = n.N >= q.max; full {
				return nil, persist.ErrNoChange
			}
			n.N++
			return nil, nil
		}); err != nil {
			return nil, err
		}
		if full {
			return &quotas[i], nil
		}
	}
	return nil, nil
}

func untilTomorrow(now time.Time) time.Duration {
	now = now.UTC()
	return time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now)
}

// Check spends one try of the live code: nil if code is right. A wrong code
// is Unprocessable; an expired, used-up or missing code says so.
func (c Codes) Check(ctx context.Context, userID, code string) error {
	if len(code) != 6 {
		return errs.E(errs.Invalid, "code must be the 6 digits of the SMS")
	}
	var result error
	_, err := c.Store.Update(ctx, c.key(userID), func(pc *PhoneCode, exists bool) (*persist.Event, error) {
		now := c.Now()
		switch {
		case !exists || now.After(pc.ExpiresAt):
			result = errs.E(errs.Unprocessable, "no live code: ask for a new one")
			return nil, persist.ErrNoChange
		case pc.Used:
			result = errs.E(errs.Unprocessable, "this code was already used: ask for a new one")
			return nil, persist.ErrNoChange
		case pc.Tries >= c.MaxTries:
			result = errs.E(errs.Unprocessable, "this code had %d wrong tries: ask for a new one", c.MaxTries)
			return nil, persist.ErrNoChange
		}
		if hmac.Equal([]byte(hashCode(userID, code)), []byte(pc.Hash)) {
			pc.Used, result = true, nil
			return nil, nil
		}
		pc.Tries++
		result = errs.E(errs.Unprocessable, "wrong code: %d tries left", c.MaxTries-pc.Tries)
		return nil, nil
	})
	if err != nil {
		return err
	}
	return result
}
