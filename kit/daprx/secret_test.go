package daprx

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type flakySecrets struct {
	down  int // calls that find the sidecar away
	err   error
	calls int
}

func (f *flakySecrets) GetSecret(_ context.Context, _, key string, _ map[string]string) (map[string]string, error) {
	f.calls++
	if f.calls <= f.down {
		return nil, status.Error(codes.Unavailable, "error reading from server: connection reset by peer")
	}
	if f.err != nil {
		return nil, f.err
	}
	return map[string]string{key: "s3cret"}, nil
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestSecretWaitsOutASidecarThatRestarts(t *testing.T) {
	f := &flakySecrets{down: 2}
	v, err := Secret(context.Background(), quiet, f, "secretstore", "jwt-key-id")
	require.NoError(t, err)
	assert.Equal(t, "s3cret", v)
	assert.Equal(t, 3, f.calls)
}

func TestSecretMissingFailsAtOnce(t *testing.T) {
	f := &flakySecrets{err: status.Error(codes.NotFound, "no secret")}
	_, err := Secret(context.Background(), quiet, f, "secretstore", "ops-token")
	require.Error(t, err)
	assert.Equal(t, codes.NotFound, status.Code(err), "the cause stays readable")
	assert.Equal(t, 1, f.calls)
}

func TestSecretGivesUpWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	_, err := Secret(ctx, quiet, &flakySecrets{down: 1 << 30}, "secretstore", "jwt-key-id")
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err))
}
