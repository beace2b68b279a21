package ports

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Clients tells who sent a request, for the per-client sign-in count. Only
// proxies it names may set X-Forwarded-For, so a client cannot choose its
// own address.
type Clients struct {
	TrustedProxies []netip.Prefix
}

// Of is r's client: an IPv4 address, or the /56 of an IPv6 one, since one
// subscriber usually gets a /56 or a /64.
func (c Clients) Of(r *http.Request) string {
	peer := peerAddr(r.RemoteAddr)
	if c.trusted(peer) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a hop we cannot read: stop at what we know
			}
			peer = a.Unmap()
			if !c.trusted(peer) {
				break
			}
		}
	}
	if !peer.IsValid() {
		return "unknown"
	}
	if peer.Is6() {
		p, _ := peer.Prefix(56)
		return p.String()
	}
	return peer.String()
}

func (c Clients) trusted(a netip.Addr) bool {
	for _, p := range c.TrustedProxies {
		if a.IsValid() && p.Contains(a) {
			return true
		}
	}
	return false
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
