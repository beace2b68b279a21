// Package pkce is the S256 code challenge of RFC 7636, which the provider's
// late callbacks are verified with.
package pkce

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// MethodS256 is the only transform method we accept.
const MethodS256 = "S256"

// Challenge is BASE64URL(SHA256(verifier)), without padding.
func Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Verify tells, in constant time, whether verifier answers challenge.
func Verify(verifier, challenge, method string) bool {
	if method != MethodS256 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(Challenge(verifier)), []byte(challenge)) == 1
}
