package domain

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bankabc/vouchers/kit/errs"
)

func TestPasswordsAreNormalizedAndBlankOrControlOnesRefused(t *testing.T) {
	// é composed (NFC) and e + U+0301 (NFD) are one password.
	assert.Equal(t, NormalizePassword("caf\u00e9 au lait!"), NormalizePassword("cafe\u0301 au lait!"))
	for _, tc := range []struct {
		name, password string
		ok             bool
	}{
		{"words_and_spaces", "correct horse battery", true},
		{"accented", "caf\u00e9 au lait!", true},
		{"ten_spaces_are_refused", "          ", false},
		{"tabs_and_newlines_only_are_refused", "\t\t\n\n  \t\t\n\n", false},
		{"ten_nuls_are_refused", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", false},
		{"a_nul_inside_is_refused", "long enough\x00pw", false},
		{"a_newline_inside_is_refused", "long enough\npw", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPasswordText("password", tc.password)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Equal(t, errs.Invalid, errs.KindOf(err), "%v", err)
			}
		})
	}
}
