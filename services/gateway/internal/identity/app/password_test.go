package app

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/errs"
)

// Issue 28, finding 6: a password signed up in one Unicode form is the
// same password in another (sign-up NFC, sign-in NFD was 401), and ten
// spaces or ten NULs are no password.
func TestPasswordsAreOneTextWhateverTheirUnicodeForm(t *testing.T) {
	ctx := context.Background()
	a, _ := signInAccounts(&slowHasher{})
	composed, decomposed := "caf\u00e9 au lait, twice", "cafe\u0301 au lait, twice"

	// Stored as sign-up stores it: the hash of the NFC form.
	addUser(t, a, "helene", composed)
	_, err := a.SignIn(ctx, SignInInput{Username: "helene", Password: decomposed, Client: "203.0.113.10"})
	assert.NoError(t, err, "the decomposed form of the password")

	// An account made before passwords were normalized keeps working with
	// the form it was made with.
	addUser(t, a, "ines", decomposed)
	_, err = a.SignIn(ctx, SignInInput{Username: "ines", Password: decomposed, Client: "203.0.113.11"})
	assert.NoError(t, err, "a hash of the decomposed form, from before")

	// An unknown username costs the same hashes as a known one's wrong
	// password, in either form: timing tells nothing about who exists.
	for _, pw := range []string{composed, decomposed} {
		h := &slowHasher{}
		b, _ := signInAccounts(h)
		addUser(t, b, "known", "another password")
		_, _ = b.SignIn(ctx, SignInInput{Username: "known", Password: pw, Client: "203.0.113.30"})
		known := h.verified.Load()
		_, _ = b.SignIn(ctx, SignInInput{Username: "unknown", Password: pw, Client: "203.0.113.31"})
		assert.Equal(t, known, h.verified.Load()-known, "checks for %q: a known username's vs an unknown one's", pw)
	}

	for name, pw := range map[string]string{"ten spaces": "          ", "ten NULs": "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "a newline": "long enough\npassword"} {
		h := &slowHasher{}
		b, _ := signInAccounts(h)
		_, err := b.SignUp(ctx, SignUpInput{Username: "jules", PhoneNumber: "0909123459", Password: pw})
		require.Error(t, err, name)
		assert.Equal(t, errs.Invalid, errs.KindOf(err), "%s: %v", name, err)
		assert.Zero(t, h.hashed.Load(), "%s: refused before any hash", name)
	}
}
