package wiring

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/testkit"
)

func TestLoadConfigDefaultPortIsTheHealthchecks(t *testing.T) {
	c, err := LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": testkit.AppToken}))
	require.NoError(t, err)
	assert.Equal(t, DefaultAppPort, c.Port)
}

func TestLoadConfigNamesTheBadVariable(t *testing.T) {
	_, err := LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": testkit.AppToken, "TRACING_SAMPLING_RATE": "half"}))
	assert.ErrorContains(t, err, "TRACING_SAMPLING_RATE")
}
