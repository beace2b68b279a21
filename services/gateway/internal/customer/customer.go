// Package customer is all that gateway's purchase context knows of its
// identity context: who is calling, and how to read a phone number. The
// two contexts meet here and at purchase's WebhookSecrets port only.
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
	// PhoneVerified: purchases and voucher lists need it.
	PhoneVerified bool
}

// NormalizePhone returns the number in E.164; numbers without a country code
// are read as Vietnamese (0909123456 is +84909123456).
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
