package app

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/gateway/internal/daily"
)

// SMSPolicy limits which numbers get texts and how many texts anonymous
// callers cause an hour. Without it, anyone could make the bank text
// premium-rate and foreign numbers at its expense (SMS pumping).
type SMSPolicy struct {
	// Regions are ISO 3166 codes ("VN"); empty means any.
	Regions []string
	// Budget is nil for no budget.
	Budget *TextBudget
}

// textTypes are mobiles and numbers a region does not tell apart from them.
var textTypes = []phonenumbers.PhoneNumberType{phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE}

// Check refuses a number the bank does not text, saying why.
func (p SMSPolicy) Check(phone string) error {
	n, err := phonenumbers.Parse(phone, "VN")
	if err != nil {
		return errs.E(errs.Invalid, "phoneNumber %q is not a valid number", phone)
	}
	region := phonenumbers.GetRegionCodeForNumber(n)
	if len(p.Regions) > 0 && !slices.Contains(p.Regions, region) {
		return errs.E(errs.Invalid, "phoneNumber must be a mobile number of %s: the bank texts only those", strings.Join(p.Regions, ", "))
	}
	if !slices.Contains(textTypes, phonenumbers.GetNumberType(n)) {
		return errs.E(errs.Invalid, "phoneNumber must be a mobile number: the bank does not text premium-rate, toll-free, VoIP or fixed-line numbers")
	}
	return nil
}

// TextBudget bounds texts anonymous callers cause an hour. Zero: no bound.
type TextBudget struct {
	Store            persist.Store[daily.Count]
	Now              func() time.Time
	PerHour          int
	PerClientPerHour int
}

// Spend takes one text of the hour's budget, or refuses with 429.
func (b *TextBudget) Spend(ctx context.Context, client string) error {
	if err := b.SpendClient(ctx, client); err != nil {
		return err
	}
	return b.SpendAll(ctx)
}

// SpendClient takes one of client's texts of the hour.
func (b *TextBudget) SpendClient(ctx context.Context, client string) error {
	if b == nil {
		return nil
	}
	return b.spend(ctx, quota{"text-budget|" + client + "|", "texts from your address this hour", b.PerClientPerHour})
}

// SpendAll takes one text of the hour's total budget.
func (b *TextBudget) SpendAll(ctx context.Context) error {
	if b == nil {
		return nil
	}
	return b.spend(ctx, quota{"text-budget|", "texts the bank sends to new accounts this hour", b.PerHour})
}

func (b *TextBudget) spend(ctx context.Context, q quota) error {
	now := b.Now().UTC()
	q.key += now.Format("2006-01-02T15")
	limit, err := spend(ctx, b.Store, []quota{q})
	if err != nil || limit == nil {
		return err
	}
	next := now.Truncate(time.Hour).Add(time.Hour).Sub(now)
	return errs.Later(next, "the budget of %s is spent: try again in %s", limit.what, next.Round(time.Minute))
}
