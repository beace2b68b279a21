package domain

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/bankabc/vouchers/kit/errs"
)

// NormalizePassword applies Unicode NFC, so é typed on two keyboards is the
// same password.
func NormalizePassword(p string) string {
	return norm.NFC.String(p)
}

// CheckPasswordText refuses blank passwords and control characters, which a
// form cannot take back from a password manager unchanged.
func CheckPasswordText(field, p string) error {
	if strings.TrimSpace(p) == "" {
		return errs.E(errs.Invalid, "%s must not be only spaces", field)
	}
	if strings.ContainsFunc(p, unicode.IsControl) {
		return errs.E(errs.Invalid, "%s must not contain control characters", field)
	}
	return nil
}
