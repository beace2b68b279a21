package errs

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"plain_error_is_internal", errors.New("boom"), Internal},
		{"kinded_error_keeps_its_kind", E(NotFound, "no such request"), NotFound},
		{"wrapped_kinded_error_keeps_its_kind", fmt.Errorf("ctx: %w", E(Conflict, "dup")), Conflict},
		{"wrap_sets_kind_on_a_cause", Wrap(Unavailable, errors.New("dial"), "sidecar down"), Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.want {
				t.Fatalf("KindOf = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPublicHidesInternalDetails(t *testing.T) {
	if got := Public(errors.New("db password=secret")); got != "internal error" {
		t.Fatalf("Public leaked %q", got)
	}
	if got := Public(Wrap(Invalid, errors.New("detail"), "phoneNumber is required")); got != "phoneNumber is required" {
		t.Fatalf("Public = %q", got)
	}
}
