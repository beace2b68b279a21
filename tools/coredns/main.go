// Command coredns is CoreDNS with only the plugins a cluster's DNS needs:
// kubernetes answers for Services and pods, bind, errors and ready serve
// it. make test-k8s runs it as the node's cluster DNS (e2e/k8s). CoreDNS's
// own main would compile every cloud provider's plugin for nothing.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	// The order of CoreDNS's own list (core/dnsserver/zdirectives.go).
	dnsserver.Directives = []string{"bind", "ready", "errors", "kubernetes"}
}

func main() { coremain.Run() }
