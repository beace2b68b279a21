package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
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
	_, err := c.Store.Update(ctx, c.key(u.ID), func(pc *PhoneCode, exists bool) (*daprx.Event, error) {
		now := c.Now()
		if resend && exists && now.Sub(pc.SentAt) < c.Cooldown {
			wait := c.Cooldown - now.Sub(pc.SentAt)
			return nil, errs.Later(wait, "a code was sent %s ago: ask again in %s", now.Sub(pc.SentAt).Round(time.Second), wait.Round(time.Second))
		}
		*pc = PhoneCode{UserID: u.ID, Hash: hashCode(u.ID, code), Seq: pc.Seq + 1, SentAt: now, ExpiresAt: now.Add(c.TTL)}
		return &daprx.Event{Topic: events.TopicSendSMS, Type: events.TypeSendSMS, Data: events.SendSMS{
			MessageID:   fmt.Sprintf("%s-%s-%d", c.kind(), u.ID, pc.Seq),
			PhoneNumber: u.PhoneNumber,
			Text:        text(code, c.TTL),
		}}, nil
	})
	return err
}

// Check spends one try of the live code: nil if code is right. A wrong code
// is Unprocessable; an expired, used-up or missing code says so.
func (c Codes) Check(ctx context.Context, userID, code string) error {
	if len(code) != 6 {
		return errs.E(errs.Invalid, "code must be the 6 digits of the SMS")
	}
	var result error
	_, err := c.Store.Update(ctx, c.key(userID), func(pc *PhoneCode, exists bool) (*daprx.Event, error) {
		now := c.Now()
		switch {
		case !exists || now.After(pc.ExpiresAt):
			result = errs.E(errs.Unprocessable, "no live code: ask for a new one")
			return nil, daprx.ErrNoChange
		case pc.Used:
			result = errs.E(errs.Unprocessable, "this code was already used: ask for a new one")
			return nil, daprx.ErrNoChange
		case pc.Tries >= c.MaxTries:
			result = errs.E(errs.Unprocessable, "this code had %d wrong tries: ask for a new one", c.MaxTries)
			return nil, daprx.ErrNoChange
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
