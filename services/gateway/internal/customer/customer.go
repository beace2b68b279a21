// Package customer is all the purchase context knows of identity. The two
// contexts meet here and at purchase's WebhookSecrets port only.
package customer

import (
	"github.com/nyaruka/phonenumbers"

	"github.com/bankabc/vouchers/kit/errs"
)

// Session is the signed-in caller, as identity vouches for them.
type Session struct {
	UserID      string
	Username    string
	PhoneNumber string
	// PhoneVerified is needed for purchases and voucher lists.
	PhoneVerified bool
}

// NormalizePhone returns E.164, reading numbers without a country code as
// Vietnamese.
func NormalizePhone(raw string) (string, error) {
	if raw == "" {
		return "", errs.E(errs.Invalid, "phoneNumber is required")
	}
	if len(raw) > 32 {
		return "", errs.E(errs.Invalid, "phoneNumber is too long")
	}
	n, err := phonenumbers.Parse(raw, "VN")
	if err != nil {
		return "", errs.E(errs.Invalid, "phoneNumber %q is not a phone number", raw)
	}
	if !phonenumbers.IsValidNumber(n) {
		return "", errs.E(errs.Invalid, "phoneNumber %q is not a valid number", raw)
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}
