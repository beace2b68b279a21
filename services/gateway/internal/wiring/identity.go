package wiring

import (
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	identityadapters "github.com/bankabc/vouchers/services/gateway/internal/identity/adapters"
	identity "github.com/bankabc/vouchers/services/gateway/internal/identity/app"
	identitydomain "github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
)

// newAccounts is the identity context: accounts, sessions, codes and the
// limits on guessing. Codes go by SMS through smsEvents.
func newAccounts(c Client, cfg Config, ext Externals, rules identitydomain.AccountRules, smsEvents *daprx.Outbox) identity.Accounts {
	now := ext.Now
	codes, unlockCodes := newCodes(c, cfg, ext, rules, smsEvents)
	limits, accountLimits := newLimits(c, cfg, now)
	return identity.Accounts{
		Users:         identityadapters.Users(daprx.Store[identityadapters.UserRecord]{Client: c, Name: cfg.StateStore}),
		Phones:        identityadapters.PhoneClaims(daprx.Store[identityadapters.PhoneClaimRecord]{Client: c, Name: cfg.StateStore}),
		Codes:         codes,
		Limits:        limits,
		AccountLimits: accountLimits,
		UnlockCodes:   unlockCodes,
		// A made-up name is remembered once its password was checked (a
		// hash), as long as the store keeps a known name's strikes.
		UnknownNames: identity.NewMemStrikes(50_000, cfg.MaxLock, now),
		Pace:         identity.NewPace(),
		Sessions:     identityadapters.Sessions(daprx.Store[identityadapters.SessionRecord]{Client: c, Name: cfg.StateStore, TTL: cfg.SessionIdle}),
		// A list outlives its newest session by at most a token's life.
		SessionLists:  identityadapters.SessionLists(daprx.Store[identityadapters.SessionListRecord]{Client: c, Name: cfg.StateStore, TTL: cfg.TokenLifetime}),
		SessionMaxAge: cfg.TokenLifetime,
		Hasher:        ext.Hasher,
		Hashing:       identity.NewSlots(cfg.MaxHashing, cfg.MaxHashingPerClient),
		Tokens:        ext.Tokens,
		Now:           now,
		NewID:         ext.NewID,
		NewSecret:     identityadapters.NewWebhookSecret,
		IdleTimeout:   cfg.SessionIdle,
		Rules:         rules,
		SMSPolicy: identity.SMSPolicy{Regions: cfg.TextRegions, Budget: &identity.TextBudget{
			Store: identityadapters.Counts(daprx.Store[identityadapters.CountRecord]{Client: c, Name: cfg.StateStore, TTL: 2 * time.Hour}), Now: now,
			PerHour: cfg.TextBudgetHour, PerClientPerHour: cfg.TextBudgetClient}},
	}
}

// newCodes are the phone verification codes and the sign-in unlock codes:
// the same store and rules, their own keys, texts and daily caps.
func newCodes(c Client, cfg Config, ext Externals, rules identitydomain.AccountRules, smsEvents *daprx.Outbox) (verify, unlock identity.Codes) {
	// Code texts (verification, unlock) and sign-up notices share one cap
	// a day per account and per number.
	daily := &identity.DailyCaps{Store: identityadapters.Counts(daprx.Store[identityadapters.CountRecord]{Client: c, Name: cfg.StateStore, TTL: 48 * time.Hour}), Now: ext.Now,
		PerAccount: cfg.TextsPerDay, PerNumber: cfg.TextsPerNumberDay}
	verify = identity.Codes{
		Store:    identityadapters.PhoneCodes(daprx.Store[identityadapters.PhoneCodeRecord]{Client: c, Name: cfg.DeliveryStore, TTL: cfg.CodeTTL, Outbox: smsEvents}),
		Now:      ext.Now,
		NewCode:  ext.NewCode,
		TTL:      cfg.CodeTTL,
		Cooldown: cfg.CodeCooldown,
		MaxTries: cfg.CodeTries,
		Rule:     rules.Code,
		Daily:    daily,
	}
	// Anyone can ask for an unlock code: its own caps keep it from
	// spending the codes an owner needs to verify a number.
	unlock = verify
	unlock.Kind, unlock.Text = "unlock-code", identity.UnlockCodeText
	unlock.Daily = &identity.DailyCaps{Name: "unlock-texts", Store: daily.Store, Now: ext.Now, PerAccount: 3, PerNumber: 3}
	return verify, unlock
}

// newLimits bound wrong passwords: per client and username, and per
// username from every client together (the same store, its own bound and
// first lock).
func newLimits(c Client, cfg Config, now func() time.Time) (perClient, perAccount identity.Limits) {
	perClient = identity.Limits{
		Store:     identityadapters.Strikes(daprx.Store[identityadapters.StrikesRecord]{Client: c, Name: cfg.StateStore, TTL: cfg.MaxLock}),
		Now:       now,
		LockRules: identitydomain.LockRules{MaxFailures: cfg.MaxFailures, Lock: cfg.Lock, MaxLock: cfg.MaxLock},
	}
	perAccount = perClient
	perAccount.MaxFailures, perAccount.Lock = cfg.AccountFailures, cfg.AccountLock
	return perClient, perAccount
}
