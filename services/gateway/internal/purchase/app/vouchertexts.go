package app

import (
	"context"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// VoucherTexts bounds the voucher codes texted to one phone number a day.
// A purchase without a callbackUrl is delivered by text, and every text is
// money: no other budget counted these. Its text is counted when the
// purchase is accepted, so that a refusal comes before anything is bought.
// A nil *VoucherTexts bounds nothing.
type VoucherTexts struct {
	// Store has a TTL of two days.
	Store     Store[domain.Count]
	Now       func() time.Time
	PerNumber int
}

// Take counts one text to phone today, or refuses with 429 and
// Retry-After until the next UTC day.
func (v *VoucherTexts) Take(ctx context.Context, phone string) error {
	if v == nil {
		return nil
	}
	now := v.Now()
	if v.PerNumber <= 0 {
		return nil
	}
	full := false
	if _, err := v.Store.Update(ctx, "voucher-texts|"+phone+"|"+domain.Day(now), func(n *domain.Count, _ bool) (*persist.Event, error) {
		var next domain.Count
		if next, full = n.Take(v.PerNumber); full {
			return nil, persist.ErrNoChange
		}
		*n = next
		return nil, nil
	}); err != nil || !full {
		return err
	}
	wait := domain.UntilTomorrow(now)
	return errs.Later(wait, "the daily text budget for this number is reached (%d voucher codes by SMS a day): give a callbackUrl, or try again after %s",
		v.PerNumber, now.Add(wait).UTC().Format(time.RFC3339))
}

// Spent counts a text to phone today that is sent whatever the budget
// says: the code of a voucher already bought, going by SMS because its
// webhook failed or came late. It still spends the number's budget, so
// that the purchases after it that would be texted are refused; over the
// budget it is logged by the caller and sent all the same.
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
