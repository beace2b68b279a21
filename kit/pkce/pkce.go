// Package pkce verifies the provider's late callbacks with RFC 7636 S256.
package pkce

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// MethodS256 is the only method we accept.
const MethodS256 = "S256"

// Challenge is unpadded BASE64URL(SHA256(verifier)).
func Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Verify runs in constant time.
func Verify(verifier, challenge, method string) bool {
	if method != MethodS256 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(Challenge(verifier)), []byte(challenge)) == 1
}
