package adapters

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestArgon2idHashesAndVerifies(t *testing.T) {
	h := Argon2id{Time: 1, MemoryK: 64, Threads: 1}
	enc, err := h.Hash("correct horse battery")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$"), "encoding %q", enc)
	assert.NotContains(t, enc, "correct horse", "encoding %q holds the password", enc)
	assert.True(t, h.Verify(enc, "correct horse battery"), "right password refused")
	for _, bad := range []string{"correct horse batterY", "", "correct horse battery "} {
		assert.False(t, h.Verify(enc, bad), "wrong password %q accepted", bad)
	}
	again, _ := h.Hash("correct horse battery")
	assert.NotEqual(t, enc, again, "two hashes of one password are equal: no salt")
	for _, broken := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=x$c2FsdA$a2V5"} {
		assert.False(t, h.Verify(broken, "x"), "broken hash %q verified", broken)
	}
}
