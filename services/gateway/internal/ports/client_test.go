package ports

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestClientsTrustXForwardedForOnlyFromTheirProxies: a client cannot
// choose the address its sign-in failures count against.
func TestClientsTrustXForwardedForOnlyFromTheirProxies(t *testing.T) {
	behind := Clients{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	tests := []struct {
		name, remote, xff string
		c                 Clients
		want              string
	}{
		{"no proxy: the peer", "198.51.100.7:5555", "", Clients{}, "198.51.100.7"},
		{"a header from an untrusted peer is ignored", "198.51.100.7:5555", "203.0.113.1", behind, "198.51.100.7"},
		{"through the proxy: the hop before it", "10.1.2.3:443", "203.0.113.1", behind, "203.0.113.1"},
		{"a forged first hop does not count", "10.1.2.3:443", "1.2.3.4, 203.0.113.1", behind, "203.0.113.1"},
		{"through two proxies", "10.1.2.3:443", "203.0.113.1, 10.9.9.9", behind, "203.0.113.1"},
		{"IPv6: the /56", "[2001:db8:1:2:3:4:5:6]:443", "", Clients{}, "2001:db8:1::/56"},
		{"garbage in the header stops there", "10.1.2.3:443", "junk, 10.9.9.9", behind, "10.9.9.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/user/sign-in", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			assert.Equal(t, tt.want, tt.c.Of(r))
		})
	}
}
