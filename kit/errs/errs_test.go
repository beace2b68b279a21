package errs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
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
			assert.Equal(t, tt.want, KindOf(tt.err), "KindOf")
		})
	}
}

func TestPublicHidesInternalDetails(t *testing.T) {
	assert.Equal(t, "internal error", Public(errors.New("db password=secret")), "Public leaked an internal error's words")
	assert.Equal(t, "phoneNumber is required", Public(Wrap(Invalid, errors.New("detail"), "phoneNumber is required")), "Public")
}
