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

func TestLoadConfigReadsTheFakesBehaviour(t *testing.T) {
	c, err := LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": testkit.AppToken, "PROVIDER_MODE": "late", "ACK_AFTER": "10ms"}))
	require.NoError(t, err)
	assert.Equal(t, "late", string(c.VPS.Mode))
	assert.Equal(t, "10ms", c.VPS.AckAfter.String())
	assert.Equal(t, "40s", c.VPS.VeryLateAfter.String(), "default")
	_, err = LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": testkit.AppToken, "PROVIDER_MODE": "sideways"}))
	assert.ErrorContains(t, err, "PROVIDER_MODE")
	_, err = LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": testkit.AppToken, "RECOVER_AFTER": "soon"}))
	assert.ErrorContains(t, err, "RECOVER_AFTER")
}
