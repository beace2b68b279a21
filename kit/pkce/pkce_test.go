package pkce

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The example of RFC 7636, appendix B.
func TestRFC7636Example(t *testing.T) {
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	assert.Equal(t, challenge, Challenge(verifier), "Challenge")
	assert.True(t, Verify(verifier, challenge, MethodS256), "the RFC's pair does not verify")
	for _, bad := range []struct{ v, c, m string }{
		{verifier + "x", challenge, MethodS256},
		{verifier, challenge, "plain"},
		{verifier, "", MethodS256},
	} {
		assert.False(t, Verify(bad.v, bad.c, bad.m), "verified %+v", bad)
	}
}
