package errs

import (
	"context"
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

func TestReasonNamesTheKindOrTheContext(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{E(Unavailable, "store down"), "unavailable"},
		{Wrap(Conflict, errors.New("etag"), "lost the race"), "conflict"},
		{errors.New("plain"), "internal"},
		{fmt.Errorf("call: %w", context.DeadlineExceeded), "timeout"},
		{context.Canceled, "cancelled"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Reason(c.err), "%v", c.err)
	}
	var r Reasons
	r = r.Add(nil).Add(E(Unavailable, "a")).Add(E(Unavailable, "b")).Add(context.DeadlineExceeded)
	assert.Equal(t, Reasons{"unavailable": 2, "timeout": 1}, r)
	assert.Equal(t, 3, r.Total())
}
