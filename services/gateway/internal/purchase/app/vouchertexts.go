package app

import (
	"context"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/gateway/internal/daily"
)

// VoucherTexts bounds voucher codes texted to one number a day, since each
// text costs money. It counts at acceptance, so a refusal comes before
// anything is bought. A nil *VoucherTexts bounds nothing.
type VoucherTexts struct {
	Store     persist.Store[daily.Count]
	Now       func() time.Time
	PerNumber int
}

// Take counts one text to phone today, or refuses with 429.
func (v *VoucherTexts) Take(ctx context.Context, phone string) error {
	if v == nil {
		return nil
	}
	now := v.Now()
	if v.PerNumber <= 0 {
		return nil
	}
	full := false
	if _, err := v.Store.Update(ctx, "voucher-texts|"+phone+"|"+daily.Day(now), func(n *daily.Count, _ bool) (*persist.Event, error) {
		var next daily.Count
		if next, full = n.Take(v.PerNumber); full {
			return nil, persist.ErrNoChange
		}
		*n = next
		return nil, nil
	}); err != nil || !full {
		return err
	}
	wait := daily.UntilTomorrow(now)
	return errs.Later(wait, "the daily text budget for this number is reached (%d voucher codes by SMS a day): give a callbackUrl, or try again after %s",
		v.PerNumber, now.Add(wait).UTC().Format(time.RFC3339))
}

// Spent counts a text sent whatever the budget says: a bought code going by
// SMS because its webhook failed. Later purchases by text are then refused.
func (v *VoucherTexts) Spent(ctx context.Context, phone string) (overBudget bool, err error) {
	if v == nil {
		return false, nil
	}
	err = v.Take(ctx, phone)
	if errs.KindOf(err) == errs.TooManyRequests {
		return true, nil
	}
	return false, err
}
