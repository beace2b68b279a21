package domain

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/bankabc/vouchers/kit/errs"
)

// NormalizePassword is a password as it is hashed and compared: Unicode
// NFC, so the same characters typed on two keyboards (é composed, or e and
// a combining accent) are the same password.
func NormalizePassword(p string) string {
	return norm.NFC.String(p)
}

// CheckPasswordText refuses a password no person means: only spaces, or
// one with a control character (NUL, tab, newline), which a form cannot
// take back from a password manager unchanged. field names it in the
// answer.
func CheckPasswordText(field, p string) error {
	if strings.TrimSpace(p) == "" {
		return errs.E(errs.Invalid, "%s must not be only spaces", field)
	}
	if strings.ContainsFunc(p, unicode.IsControl) {
		return errs.E(errs.Invalid, "%s must not contain control characters", field)
	}
	return nil
}
