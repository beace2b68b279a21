package adapters

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNetGuardRefusesInternalAddresses(t *testing.T) {
	g := NetGuard{}
	for _, a := range []string{"127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
		"fe80::1", "fd00::1", "0.0.0.0", "100.64.0.1", "224.0.0.1", "::ffff:127.0.0.1"} {
		assert.NotEmpty(t, g.Refused(netip.MustParseAddr(a)), "%s is allowed", a)
	}
	for _, a := range []string{"93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"} {
		assert.Empty(t, g.Refused(netip.MustParseAddr(a)), "%s refused", a)
	}
	allowed, err := ParseNetworks("127.0.0.0/8, ::1/128")
	require.NoError(t, err)
	assert.Empty(t, (NetGuard{Allowed: allowed}).Refused(netip.MustParseAddr("127.0.0.1")), "an allowed network was refused")
	_, err = ParseNetworks("not-a-cidr")
	assert.Error(t, err, "a bad network was accepted")
}

func TestNetGuardChecksHostsAndConnections(t *testing.T) {
	ctx := context.Background()
	assert.ErrorContains(t, (NetGuard{}).CheckHost(ctx, "localhost"), "loopback", "localhost")
	assert.Error(t, (NetGuard{}).CheckHost(ctx, "[::1]"), "[::1] accepted")
	assert.Error(t, (NetGuard{}).CheckHost(ctx, "no-such-host.invalid"), "an unresolvable host accepted")
	// At connection time: the guard refuses the dial itself.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	_, err := GuardedWebhookClient(time.Second, NetGuard{}).Post(srv.URL, "application/json", nil)
	assert.ErrorContains(t, err, "loopback", "dial to loopback")
	allowed, _ := ParseNetworks("127.0.0.0/8")
	resp, err := GuardedWebhookClient(time.Second, NetGuard{Allowed: allowed}).Post(srv.URL, "application/json", nil)
	require.NoError(t, err, "allowed loopback")
	resp.Body.Close()
	assert.Equal(t, 204, resp.StatusCode, "allowed loopback")
}
