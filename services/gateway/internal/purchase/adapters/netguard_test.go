package adapters

import (
	"context"
	"fmt"
	"net"
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
		"fe80::1", "fd00::1", "0.0.0.0", "100.64.0.1", "224.0.0.1", "::ffff:127.0.0.1",
		// Found from outside (issue 17): the benchmarking range answered.
		"198.18.0.1", "198.19.255.254", "240.0.0.1", "255.255.255.255",
		"64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
		"2002:a9fe:a9fe::",   // 6to4 of 169.254.169.254
		// The rest of IANA's special-purpose registries.
		"192.0.0.9", "192.0.2.1", "198.51.100.7", "203.0.113.9", "192.88.99.1", "192.31.196.1", "192.52.193.1",
		"192.175.48.1", "::", "::ffff:10.0.0.1", "64:ff9b:1::1", "100::1", "2001::1", "2001:db8::1", "3fff::1",
		"5f00::1", "ff02::1", "::127.0.0.1", "4000::1"} {
		assert.NotEmpty(t, g.Refused(netip.MustParseAddr(a)), "%s is allowed", a)
	}
	for _, a := range []string{"93.184.216.34", "2606:2800:220:1::1", "8.8.8.8", "198.20.0.1", "2a00:1450:4001::1"} {
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
	// A host refused and a host that does not resolve get the same answer,
	// so the check is no oracle of internal names.
	assert.ErrorIs(t, (NetGuard{}).CheckHost(ctx, "localhost"), ErrNotPublic, "localhost")
	assert.ErrorIs(t, (NetGuard{}).CheckHost(ctx, "[::1]"), ErrNotPublic, "[::1]")
	assert.ErrorIs(t, (NetGuard{}).CheckHost(ctx, "198.18.0.1"), ErrNotPublic, "198.18.0.1")
	assert.ErrorIs(t, (NetGuard{}).CheckHost(ctx, "no-such-host.invalid"), ErrNotPublic, "an unresolvable host")
	assert.NoError(t, (NetGuard{}).CheckHost(ctx, "8.8.8.8"), "a public address")
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

// TestAnAllowedNetworkNeverReachesTheSystemsOwnPorts: webhook statuses made
// the loopback a port scanner (issue 28, finding 8).
func TestAnAllowedNetworkNeverReachesTheSystemsOwnPorts(t *testing.T) {
	system := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) }))
	defer system.Close()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer receiver.Close()
	allowed, err := ParseNetworks("127.0.0.0/8, ::1/128")
	require.NoError(t, err)
	systemPort := system.Listener.Addr().(*net.TCPAddr).Port
	ports, err := ParsePorts(fmt.Sprintf("3500-3514, %d", systemPort))
	require.NoError(t, err)
	client := GuardedWebhookClient(time.Second, NetGuard{Allowed: allowed, SystemPorts: ports})

	for _, u := range []string{system.URL, fmt.Sprintf("http://localhost:%d/", systemPort)} {
		_, err = client.Post(u, "application/json", nil)
		assert.ErrorContains(t, err, "a port of this system", "%s", u)
	}
	_, err = client.Post("http://127.0.0.1:80/", "application/json", nil)
	assert.ErrorContains(t, err, "a privileged port", "port 80 on the loopback")
	resp, err := client.Post(receiver.URL, "application/json", nil)
	require.NoError(t, err, "the allowed receiver")
	resp.Body.Close()
	assert.Equal(t, 204, resp.StatusCode, "the allowed receiver")

	g := NetGuard{Allowed: allowed, SystemPorts: ports}
	assert.NotEmpty(t, g.RefusedPort(netip.MustParseAddrPort("[::ffff:127.0.0.1]:3500")), "a mapped loopback address")
	assert.NotEmpty(t, g.RefusedPort(netip.MustParseAddrPort("[::1]:3514")), "the IPv6 loopback")
	assert.Empty(t, g.RefusedPort(netip.MustParseAddrPort("93.184.216.34:3500")), "a public host's port 3500 is its own")
	assert.Empty(t, g.RefusedPort(netip.MustParseAddrPort("93.184.216.34:443")), "https on a public host")
	assert.NotEmpty(t, (NetGuard{SystemPorts: ports}).RefusedPort(netip.MustParseAddrPort("127.0.0.1:40000")), "loopback without the allowance")
}

func TestParsePorts(t *testing.T) {
	ps, err := ParsePorts(" 3500-3514, 8080 ,")
	require.NoError(t, err)
	assert.Equal(t, Ports{{3500, 3514}, {8080, 8080}}, ps)
	for _, bad := range []string{"0", "x", "70000", "10-5", "1-2-3", "-5"} {
		_, err := ParsePorts(bad)
		assert.Error(t, err, "%q", bad)
	}
}
