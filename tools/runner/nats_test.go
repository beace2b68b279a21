package runner

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTheEmbeddedBrokerRefusesClientsWithoutItsToken: anything else on
// the host that finds the port can neither publish (a forged receive-code)
// nor read events; the runner and the sidecars, with the token, can.
func TestTheEmbeddedBrokerRefusesClientsWithoutItsToken(t *testing.T) {
	port, err := FreePort()
	require.NoError(t, err)
	b, err := startBroker(t.TempDir(), port, randomToken())
	require.NoError(t, err)
	defer b.stop()

	for name, opts := range map[string][]nats.Option{
		"no token":    nil,
		"wrong token": {nats.Token(randomToken())},
	} {
		_, err := nats.Connect(b.url, opts...)
		assert.Error(t, err, "%s: connected", name)
	}
	require.NoError(t, ensureStreams(context.Background(), b.url, b.token, []string{"receive-code"}))
	nc, err := nats.Connect(b.url, nats.Token(b.token))
	require.NoError(t, err)
	defer nc.Close()
	assert.NoError(t, nc.Publish("receive-code", []byte("{}")))
}
