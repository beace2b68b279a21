package wiring

import (
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	identityadapters "github.com/bankabc/vouchers/services/gateway/internal/identity/adapters"
	identity "github.com/bankabc/vouchers/services/gateway/internal/identity/app"
	identitydomain "github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
)

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
		// Made-up names' strikes last as long as a known name's.
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

// newCodes are verification and unlock codes: one store, their own keys.
func newCodes(c Client, cfg Config, ext Externals, rules identitydomain.AccountRules, smsEvents *daprx.Outbox) (verify, unlock identity.Codes) {
	// Code texts and sign-up notices share one daily cap.
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
	// Unlock codes have their own caps, so anyone asking cannot spend the
	// codes an owner needs to verify a number.
	unlock = verify
	unlock.Kind, unlock.Text = "unlock-code", identity.UnlockCodeText
	unlock.Daily = &identity.DailyCaps{Name: "unlock-texts", Store: daily.Store, Now: ext.Now, PerAccount: 3, PerNumber: 3}
	return verify, unlock
}

// newLimits bounds wrong passwords per client and username, and per
// username from all clients.
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
