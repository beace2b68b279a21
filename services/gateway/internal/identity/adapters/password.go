// Package adapters holds identity's outbound doors and its crypto.
package adapters

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/argon2"
)

// NewSixDigitCode returns a uniformly random code from 000000 to 999999.
func NewSixDigitCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// Argon2id hashes passwords in the PHC string format, so the parameters
// travel with each hash.
type Argon2id struct {
	Time    uint32
	MemoryK uint32
	Threads uint8
}

// DefaultArgon2id follows OWASP's minimum for argon2id: 19 MiB, 2 passes.
var DefaultArgon2id = Argon2id{Time: 2, MemoryK: 19 * 1024, Threads: 1}

const keyLen = 32

var b64 = base64.RawStdEncoding

// Hash returns $argon2id$v=19$m=…,t=…,p=…$salt$key.
func (h Argon2id) Hash(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.Time, h.MemoryK, h.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.MemoryK, h.Time, h.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify uses the hash's own parameters and compares in constant time.
func (Argon2id) Verify(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
