package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/gateway/internal/daily"
	"github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
)

// Codes sends and checks phone codes. A code and its SMS are written in one
// transaction, through the outbox.
type Codes struct {
	Store    persist.Store[domain.PhoneCode]
	Now      func() time.Time
	NewCode  func() string // six digits
	TTL      time.Duration
	Cooldown time.Duration
	MaxTries int
	// Rule refuses a malformed code before any read.
	Rule domain.TextRule
	// Kind names the codes in keys and SMS ids; Text writes the SMS.
	Kind string
	Text func(code string, ttl time.Duration) string
	// Daily is nil for no cap.
	Daily *DailyCaps
}

func (c Codes) kind() string {
	if c.Kind == "" {
		return "phone-code"
	}
	return c.Kind
}

func (c Codes) key(userID string) string { return c.kind() + "|" + userID }

// Send makes a new code and texts it. A resend honours the cool-down.
func (c Codes) Send(ctx context.Context, u domain.User, resend bool) error {
	code := c.NewCode()
	text := codeText
	if c.Text != nil {
		text = c.Text
	}
	if resend {
		// Checked first too, so a refused resend does not spend the day's cap.
		if pc, found, err := c.Store.Get(ctx, c.key(u.ID)); err == nil && found {
			if err := pc.CoolingDown(c.Now(), c.Cooldown); err != nil {
				return err
			}
		}
	}
	if err := c.Daily.take(ctx, u); err != nil {
		return err
	}
	_, err := c.Store.Update(ctx, c.key(u.ID), func(pc *domain.PhoneCode, exists bool) (*persist.Event, error) {
		now := c.Now()
		if resend && exists {
			if err := pc.CoolingDown(now, c.Cooldown); err != nil {
				return nil, err
			}
		}
		*pc = pc.Replace(u.ID, code, now, c.TTL)
		return &persist.Event{Topic: events.TopicSendSMS, Type: events.TypeSendSMS, Data: events.SendSMS{
			MessageID:   fmt.Sprintf("%s-%s-%d", c.kind(), u.ID, pc.Seq),
			PhoneNumber: u.PhoneNumber,
			Text:        text(code, c.TTL),
		}}, nil
	})
	return err
}

// SendUnlessLive keeps a live code, so asking again cannot replace the one
// the owner is typing in.
func (c Codes) SendUnlessLive(ctx context.Context, u domain.User) error {
	pc, found, err := c.Store.Get(ctx, c.key(u.ID))
	if err != nil {
		return err
	}
	if found && pc.Live(c.Now(), c.MaxTries) {
		return nil
	}
	return c.Send(ctx, u, false)
}

// Notify texts u a message without a code, once per id, under the daily caps.
func (c Codes) Notify(ctx context.Context, u domain.User, id string, text func() string) error {
	if err := c.Daily.take(ctx, u); err != nil {
		return err
	}
	now := c.Now()
	err := c.Store.Insert(ctx, "notice|"+id, domain.PhoneCode{UserID: u.ID, SentAt: now, ExpiresAt: now.Add(c.TTL), Used: true},
		&persist.Event{Topic: events.TopicSendSMS, Type: events.TypeSendSMS, Data: events.SendSMS{
			MessageID: id, PhoneNumber: u.PhoneNumber, Text: text()}})
	if errors.Is(err, persist.ErrExists) {
		return nil
	}
	return err
}

// DailyCaps bounds texts a day per account and per number. Without a cap, a
// sign-up or resend loop texts a number all day, at the bank's cost.
type DailyCaps struct {
	Name string
	// Store has a TTL of two days.
	Store      persist.Store[daily.Count]
	Now        func() time.Time
	PerAccount int
	PerNumber  int
}

func (d *DailyCaps) take(ctx context.Context, u domain.User) error {
	if d == nil {
		return nil
	}
	day := daily.Day(d.Now())
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
	return errs.Later(daily.UntilTomorrow(d.Now()), "%d texts to %s today already: try again tomorrow", limit.max, limit.what)
}

type quota struct {
	key, what string
	max       int
}

// spend counts against each quota in turn and returns the first full one.
func spend(ctx context.Context, store persist.Store[daily.Count], quotas []quota) (*quota, error) {
	for i, q := range quotas {
		if q.max <= 0 {
			continue
		}
		full := false
		if _, err := store.Update(ctx, q.key, func(n *daily.Count, _ bool) (*persist.Event, error) {
			var next daily.Count
			if next, full = n.Take(q.max); full {
				return nil, persist.ErrNoChange
			}
			*n = next
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

// Check spends one try of the live code. A wrong code is Unprocessable.
func (c Codes) Check(ctx context.Context, userID, code string) error {
	if c.Rule.Pattern == nil {
		// Fail closed: a zero rule would take any string as a code.
		return errs.E(errs.Internal, "codes: no rule for what a code looks like")
	}
	if err := c.Rule.Check(code); err != nil {
		return err
	}
	var result error
	_, err := c.Store.Update(ctx, c.key(userID), func(pc *domain.PhoneCode, exists bool) (*persist.Event, error) {
		var next domain.PhoneCode
		var changed bool
		if next, changed, result = pc.Check(exists, userID, code, c.Now(), c.MaxTries); !changed {
			return nil, persist.ErrNoChange
		}
		*pc = next
		return nil, nil
	})
	if err != nil {
		return err
	}
	return result
}
