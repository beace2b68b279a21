package adapters

import (
	"strings"
	"testing"
)

func TestArgon2idHashesAndVerifies(t *testing.T) {
	h := Argon2id{Time: 1, MemoryK: 64, Threads: 1}
	enc, err := h.Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(enc, "correct horse") {
		t.Fatalf("encoding %q", enc)
	}
	if !h.Verify(enc, "correct horse battery") {
		t.Fatal("right password refused")
	}
	for _, bad := range []string{"correct horse batterY", "", "correct horse battery "} {
		if h.Verify(enc, bad) {
			t.Fatalf("wrong password %q accepted", bad)
		}
	}
	if again, _ := h.Hash("correct horse battery"); again == enc {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, broken := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=x$c2FsdA$a2V5"} {
		if h.Verify(broken, "x") {
			t.Fatalf("broken hash %q verified", broken)
		}
	}
}
