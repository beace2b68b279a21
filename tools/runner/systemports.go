package runner

import (
	"net"
	"strconv"
	"strings"
)

// systemPorts lists every port of the running system, for the apps'
// SYSTEM_PORTS: gateway allows webhooks to the loopback on a local run
// (the tests' receivers listen there), and must not reach these through
// that allowance. listed are ports the run file's own SYSTEM_PORTS names.
func (s *System) systemPorts(listed string) string {
	var ports []string
	add := func(p int) {
		if p > 0 {
			ports = append(ports, strconv.Itoa(p))
		}
	}
	addAddr := func(addr string) {
		if _, p, err := net.SplitHostPort(addr); err == nil {
			n, _ := strconv.Atoi(p)
			add(n)
		}
	}
	for _, a := range s.apps {
		for _, p := range []int{a.AppPort, a.DaprHTTPPort, a.DaprGRPCPort, a.MetricsPort, a.internalPort, a.publicPort} {
			add(p)
		}
	}
	if s.broker != nil {
		add(s.broker.opts.Port)
	}
	for _, srv := range s.servers {
		addAddr(srv.addr)
	}
	if s.proxy != nil {
		addAddr(s.proxy.addr)
	}
	for _, b := range s.balancers {
		addAddr(b.addr)
	}
	if listed = strings.TrimSpace(listed); listed != "" {
		ports = append(ports, listed)
	}
	return strings.Join(ports, ",")
}
