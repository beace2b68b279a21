package runner

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIsolateNeedsNothingOnEmbedded(t *testing.T) {
	iso, err := Isolate(context.Background(), "embedded", "test")
	require.NoError(t, err)
	assert.Empty(t, iso.Vars, "vars, want none")
	assert.NoError(t, iso.Close())
	assert.NoError(t, iso.Close(), "second Close")
}

func TestIsolateRefusesWhatItCannotKeepApart(t *testing.T) {
	for _, c := range []struct{ profile, owner, want string }{
		{"pulsar", "test", `no isolation known for profile "pulsar"`},
		{"embedded", "", "isolation owner"},
		{"embedded", "e2e; DROP", "isolation owner"},
		{"embedded", "Bench", "isolation owner"},
	} {
		_, err := Isolate(context.Background(), c.profile, c.owner)
		assert.ErrorContains(t, err, c.want, "Isolate(%q, %q)", c.profile, c.owner)
	}
}
