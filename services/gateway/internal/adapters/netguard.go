package adapters

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// NetGuard refuses addresses a customer's callbackUrl must not reach:
// loopback, private, link-local (cloud metadata lives there), CGNAT,
// unspecified and multicast, unless an allowed network names them.
type NetGuard struct {
	Allowed []netip.Prefix
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

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Refused says why addr may not be reached, or "" if it may.
func (g NetGuard) Refused(addr netip.Addr) string {
	addr = addr.Unmap()
	for _, p := range g.Allowed {
		if p.Contains(addr) {
			return ""
		}
	}
	switch {
	case addr.IsLoopback():
		return "a loopback address"
	case addr.IsPrivate():
		return "a private address"
	case addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast():
		return "a link-local address (cloud metadata lives there)"
	case addr.IsUnspecified():
		return "an unspecified address"
	case addr.IsMulticast(), addr.IsInterfaceLocalMulticast():
		return "a multicast address"
	case cgnat.Contains(addr):
		return "a carrier-grade NAT address"
	}
	return ""
}

// CheckHost resolves host and refuses it if any of its addresses is
// refused. A host that does not resolve is refused too.
func (g NetGuard) CheckHost(ctx context.Context, host string) error {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if why := g.Refused(a); why != "" {
			return fmt.Errorf("callbackUrl points to %s", why)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("callbackUrl host %q does not resolve", host)
	}
	for _, a := range addrs {
		if why := g.Refused(a); why != "" {
			return fmt.Errorf("callbackUrl host %q resolves to %s", host, why)
		}
	}
	return nil
}

// control runs on every connection the webhook client makes, with the IP
// actually dialled: DNS may have changed since the request was accepted.
func (g NetGuard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refused %q: %w", address, err)
	}
	if why := g.Refused(ap.Addr()); why != "" {
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
