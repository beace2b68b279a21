package wiring

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/testkit"
)

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": testkit.AppToken}))
	require.NoError(t, err)
	assert.Equal(t, DefaultAppPort, c.Port, "the healthcheck's default too")
	assert.Equal(t, "127.0.0.1:"+DefaultPublicPort, c.PublicAddr)
	assert.Equal(t, []time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second}, c.WebhookSchedule)
	assert.Equal(t, []string{"VN"}, c.TextRegions)
	assert.Equal(t, 128, c.MaxInFlight)
	assert.Equal(t, 10*time.Minute, c.SessionIdle)
	assert.Equal(t, 30*24*time.Hour, c.DeliveryRetention)
	assert.False(t, c.AllowHTTP)
	assert.Empty(t, c.AllowedNetworks)
	assert.True(t, c.SystemPorts.Contains(8090) && c.SystemPorts.Contains(3500), "its own ports")
}

func TestLoadConfigReadsTheLists(t *testing.T) {
	c, err := LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": testkit.AppToken,
		"SMS_REGIONS": "vn, th", "TRUSTED_PROXIES": "10.0.0.0/8, ::1/128", "WEBHOOK_ALLOW_HTTP": "true",
		"SYSTEM_PORTS": "9000-9002"}))
	require.NoError(t, err)
	assert.Equal(t, []string{"VN", "TH"}, c.TextRegions)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}, c.TrustedProxies)
	assert.True(t, c.AllowHTTP)
	assert.True(t, c.SystemPorts.Contains(9001))

	c, err = LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": testkit.AppToken, "SMS_REGIONS": "*"}))
	require.NoError(t, err)
	assert.Nil(t, c.TextRegions, "any region")
}

func TestLoadConfigNamesTheBadVariable(t *testing.T) {
	for name, bad := range map[string]string{
		"SESSION_IDLE_TIMEOUT":     "soon",
		"DELIVERY_RETENTION":       "1h",
		"MAX_IN_FLIGHT":            "0",
		"WEBHOOK_RETRY_SCHEDULE":   "1s,-5s",
		"WEBHOOK_ALLOW_HTTP":       "yes",
		"WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0",
		"SYSTEM_PORTS":             "0",
		"TRACING_SAMPLING_RATE":    "2",
		"APP_API_TOKEN":            "short",
	} {
		_, err := LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": testkit.AppToken, name: bad}))
		assert.ErrorContains(t, err, name, "%s=%s", name, bad)
	}
}
