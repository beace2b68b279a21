package adapters

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NetGuard refuses all but global unicast: every IANA special-purpose block,
// including link-local where cloud metadata lives, unless an allowed network
// names the address. Even then the system's ports and those below 1024 stay
// refused, or webhook answers would map them and drive a sidecar's API.
type NetGuard struct {
	Allowed     []netip.Prefix
	SystemPorts Ports
}

// Ports is a set of TCP ports, as ranges.
type Ports []PortRange

// PortRange is the ports from Low to High, both included.
type PortRange struct{ Low, High uint16 }

// Contains tells whether port is in the set.
func (ps Ports) Contains(port uint16) bool {
	for _, r := range ps {
		if port >= r.Low && port <= r.High {
			return true
		}
	}
	return false
}

// ParsePorts reads "3500-3514, 8080" (empty: none).
func ParsePorts(s string) (Ports, error) {
	var out Ports
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		l, errL := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		h, errH := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		if errL != nil || errH != nil || l == 0 || h < l {
			return nil, fmt.Errorf("%q is neither a port nor a range of ports (low-high)", part)
		}
		out = append(out, PortRange{uint16(l), uint16(h)})
	}
	return out, nil
}

// ParseNetworks reads "127.0.0.0/8, ::1/128" (empty: none).
func ParseNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a network (CIDR): %w", part, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// special are IANA's special-purpose blocks as of 2026, named for the logs.
// Globally reachable blocks inside them are refused too: no webhook goes there.
var special = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\" (0.0.0.0/8)"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address (cloud metadata lives there)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("192.31.196.0/24"), "an AS112 address"},
	{netip.MustParsePrefix("192.52.193.0/24"), "an AMT address"},
	{netip.MustParsePrefix("192.88.99.0/24"), "a 6to4 relay anycast address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("192.175.48.0/24"), "an AS112 address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved or broadcast address"},
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("64:ff9b::/96"), "a NAT64 address (it embeds an IPv4 address)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local NAT64 address"},
	{netip.MustParsePrefix("100::/64"), "a discard-only address"},
	{netip.MustParsePrefix("2001::/23"), "an IETF protocol assignment (Teredo among them)"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("2002::/16"), "a 6to4 address (it embeds an IPv4 address)"},
	{netip.MustParsePrefix("3fff::/20"), "a documentation address"},
	{netip.MustParsePrefix("5f00::/16"), "an SRv6 address"},
	{netip.MustParsePrefix("fc00::/7"), "a unique local (private) address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// Refused says why addr may not be reached, or "". The reason is for logs.
func (g NetGuard) Refused(addr netip.Addr) string {
	addr = addr.Unmap()
	if g.allows(addr) {
		return ""
	}
	return refused(addr)
}

// RefusedPort is Refused plus the port rule for allowed networks.
func (g NetGuard) RefusedPort(ap netip.AddrPort) string {
	addr := ap.Addr().Unmap()
	if !g.allows(addr) {
		return refused(addr)
	}
	if refused(addr) == "" {
		return "" // public anyway: the ports are someone else's
	}
	switch {
	case g.SystemPorts.Contains(ap.Port()):
		return "a port of this system's own processes, on an allowed internal network"
	case ap.Port() < 1024:
		return "a privileged port, on an allowed internal network"
	}
	return ""
}

func (g NetGuard) allows(addr netip.Addr) bool {
	for _, p := range g.Allowed {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func refused(addr netip.Addr) string {
	if !addr.IsValid() {
		return "no address"
	}
	for _, s := range special {
		if s.prefix.Contains(addr) {
			return s.what
		}
	}
	if addr.Is6() && !globalUnicast6.Contains(addr) {
		return "an IPv6 address outside global unicast (2000::/3)"
	}
	return ""
}

// ErrNotPublic says the same for refused and unresolvable hosts, so the
// check tells nobody which internal names exist.
var ErrNotPublic = errors.New("callbackUrl must name a host that resolves to public internet addresses only")

// CheckHost refuses host if it does not resolve or any address is refused.
func (g NetGuard) CheckHost(ctx context.Context, host string) error {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if why := g.Refused(a); why != "" {
			return ErrNotPublic
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return ErrNotPublic
	}
	for _, a := range addrs {
		if why := g.Refused(a); why != "" {
			return ErrNotPublic
		}
	}
	return nil
}

// control checks the IP actually dialled: DNS may have changed since.
func (g NetGuard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refused %q: %w", address, err)
	}
	if why := g.RefusedPort(ap); why != "" {
		return fmt.Errorf("refused to connect to %s: %s", address, why)
	}
	return nil
}

// GuardedWebhookClient is NewWebhookClient whose connections pass the guard.
func GuardedWebhookClient(timeout time.Duration, g NetGuard) *http.Client {
	c := NewWebhookClient(timeout)
	d := &net.Dialer{Timeout: timeout, Control: g.control}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = d.DialContext
	t.Proxy = nil // a proxy would dial on our behalf, past the guard
	c.Transport = t
	return c
}
