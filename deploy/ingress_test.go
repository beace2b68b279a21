package deploy

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/bankabc/vouchers/api"
)

// public is what a customer's browser needs beside the API's operations.
var public = []string{"/", "/assets/app.js", "/assets/app.css", "/openapi.yaml"}

// internal is what gateway serves for its sidecar, its operators and the
// cluster only: topic deliveries, cron bindings, the operator API (in
// api/openapi.yaml, but for operators inside the bank's network: kubectl
// port-forward, or an internal ingress) and the probes. All of it is on the
// app port now, which no Service exposes (TestKubernetesManifests); no
// Ingress may route these paths either, to any backend.
var internal = []string{
	"/events/receive-code", "/events/dead-letter", "/webhook-sweep", "/request-redrive", "/outbox-relay",
	"/ops/dead-letters", "/ops/dead-letters/x/replay", "/metrics", "/readyz", "/healthz",
	"/events", "/vouchers", "/users", "/assetsx", "/openapi.yaml/x",
	// voucher-int's sidecar routes.
	"/events/request-code", "/reconcile",
}

// callbackPath is the Voucher Provider Server's callback, the one route of
// voucher-int's public port.
const callbackPath = "/api/voucher-code/vps/response"

// TestIngressRoutesTheAPIAndNothingElse: every customer path of
// api/openapi.yaml and the web page reach gateway's public port through the
// Ingress gateway, the provider's callback reaches voucher-int's public
// port through the Ingress voucher-int-callback, both over TLS; no internal
// path is routed, and no Ingress reaches an app port.
func TestIngressRoutesTheAPIAndNothingElse(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := decodeAll(t, dir, build(t, dir))
			byName := map[string]networkingv1.Ingress{}
			var names []string
			for _, ing := range o.ingresses {
				byName[ing.Name] = ing
				names = append(names, ing.Name)
				checkIngressBackends(t, o, ing)
				checkIngressTLS(t, ing)
			}
			slices.Sort(names)
			require.Equal(t, []string{"gateway", "voucher-int-callback"}, names, "ingresses")
			gw, cb := byName["gateway"], byName["voucher-int-callback"]

			var want []string
			for _, op := range api.MustLoad().Operations() {
				_, path, _ := strings.Cut(op, " ")
				if strings.HasPrefix(path, "/ops/") {
					continue // operators only, see internal
				}
				want = append(want, api.ConcretePath(path))
			}
			for _, p := range append(want, public...) {
				if !routed(gw, p) {
					t.Errorf("%s is not routed to gateway", p)
				}
				if routed(cb, p) {
					t.Errorf("%s is routed to voucher-int", p)
				}
			}
			if !routed(cb, callbackPath) {
				t.Errorf("the provider's callback %s is not routed to voucher-int", callbackPath)
			}
			if routed(gw, callbackPath) {
				t.Errorf("the provider's callback %s is routed to gateway", callbackPath)
			}
			for _, p := range append(internal, callbackPath+"/x", "/api/voucher-code/vps", "/api") {
				for _, ing := range o.ingresses {
					if routed(ing, p) {
						t.Errorf("%s is routed from outside by Ingress %s; only the cluster may reach it", p, ing.Name)
					}
				}
			}
		})
	}
}

func checkIngressTLS(t *testing.T, ing networkingv1.Ingress) {
	t.Helper()
	hosts := map[string]bool{}
	for _, tls := range ing.Spec.TLS {
		assert.NotEmpty(t, tls.SecretName, "ingress %s: TLS for %v names no secret", ing.Name, tls.Hosts)
		for _, h := range tls.Hosts {
			hosts[h] = true
		}
	}
	for _, rule := range ing.Spec.Rules {
		assert.Contains(t, hosts, rule.Host, "ingress %s: host %q is served without TLS", ing.Name, rule.Host)
	}
}

// checkIngressBackends: every backend is a named port of a Service that
// targets the public port (PUBLIC_PORT, container port public) of the
// Deployment it selects, never the app port daprd calls.
func checkIngressBackends(t *testing.T, o *objects, ing networkingv1.Ingress) {
	t.Helper()
	for _, rule := range ing.Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			b := p.Backend.Service
			if b == nil || b.Port.Name == "" {
				t.Errorf("ingress %s path %s: backend %+v is not a named Service port", ing.Name, p.Path, p.Backend)
				continue
			}
			found := false
			for _, s := range o.services {
				if s.Name != b.Name {
					continue
				}
				for _, sp := range s.Spec.Ports {
					if sp.Name != b.Port.Name {
						continue
					}
					found = true
					for _, d := range o.deployments {
						if !subset(s.Spec.Selector, d.Spec.Template.Labels) {
							continue
						}
						n, ok := targetOf(d, sp.TargetPort)
						if pub := portsOf(t, d).public; !ok || pub == 0 || n != pub {
							t.Errorf("ingress %s path %s: service %s port %s reaches %s's port %d, not its public port (PUBLIC_PORT %d)",
								ing.Name, p.Path, s.Name, sp.Name, d.Name, n, pub)
						}
					}
				}
			}
			if !found {
				t.Errorf("ingress %s path %s: backend %+v is not a port of a Service", ing.Name, p.Path, p.Backend)
			}
		}
	}
}

// routed reports whether a request for path matches one of the Ingress's
// paths, with Kubernetes' rules: Exact is equality, Prefix matches whole
// path elements ("/voucher" matches "/voucher/x", not "/vouchers").
func routed(ing networkingv1.Ingress, path string) bool {
	for _, rule := range ing.Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			switch *p.PathType {
			case networkingv1.PathTypeExact:
				if path == p.Path {
					return true
				}
			case networkingv1.PathTypePrefix:
				prefix := strings.TrimSuffix(p.Path, "/")
				if prefix == "" || path == prefix || strings.HasPrefix(path, prefix+"/") {
					return true
				}
			default:
				return true // ImplementationSpecific: assume the worst
			}
		}
	}
	return false
}

// TestRoutedFollowsKubernetesPathRules keeps the matcher above honest.
func TestRoutedFollowsKubernetesPathRules(t *testing.T) {
	prefix, exact := networkingv1.PathTypePrefix, networkingv1.PathTypeExact
	ing := networkingv1.Ingress{Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
		IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
			{Path: "/voucher", PathType: &prefix},
			{Path: "/", PathType: &exact},
		}}},
	}}}}
	for path, want := range map[string]bool{
		"/voucher": true, "/voucher/requests/x": true, "/": true,
		"/vouchers": false, "/events/receive-code": false, "/metrics": false,
	} {
		assert.Equal(t, want, routed(ing, path), "routed(%q)", path)
	}
}
