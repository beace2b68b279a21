package deploy

import (
	"path/filepath"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/bankabc/vouchers/api"
)

// public is what a customer's browser needs beside the API's operations.
var public = []string{"/", "/assets/app.js", "/assets/app.css", "/openapi.yaml"}

// internal is what gateway serves on the same port for its sidecar, its
// operators and the cluster only: topic deliveries, cron bindings, the
// operator API (in api/openapi.yaml, but for operators inside the bank's
// network: kubectl port-forward, or an internal ingress) and the probes.
var internal = []string{
	"/events/receive-code", "/events/dead-letter", "/webhook-sweep", "/request-redrive", "/outbox-relay",
	"/ops/dead-letters", "/ops/dead-letters/x/replay", "/metrics", "/readyz", "/healthz",
	"/events", "/vouchers", "/users", "/assetsx", "/openapi.yaml/x",
}

// TestIngressRoutesTheAPIAndNothingElse: every customer path of
// api/openapi.yaml and the web page reach gateway through the Ingress, over
// TLS; no internal path does.
func TestIngressRoutesTheAPIAndNothingElse(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := decodeAll(t, dir, build(t, dir))
			if len(o.ingresses) != 1 {
				t.Fatalf("%d ingresses, want 1", len(o.ingresses))
			}
			ing := o.ingresses[0]
			checkIngressBackends(t, o, ing)
			hosts := map[string]bool{}
			for _, tls := range ing.Spec.TLS {
				if tls.SecretName == "" {
					t.Errorf("TLS for %v names no secret", tls.Hosts)
				}
				for _, h := range tls.Hosts {
					hosts[h] = true
				}
			}
			for _, rule := range ing.Spec.Rules {
				if !hosts[rule.Host] {
					t.Errorf("host %q is served without TLS", rule.Host)
				}
			}

			var want []string
			for _, op := range api.MustLoad().Operations() {
				_, path, _ := strings.Cut(op, " ")
				if strings.HasPrefix(path, "/ops/") {
					continue // operators only, see internal
				}
				want = append(want, api.ConcretePath(path))
			}
			for _, p := range append(want, public...) {
				if !routed(ing, p) {
					t.Errorf("%s is not routed to gateway", p)
				}
			}
			for _, p := range internal {
				if routed(ing, p) {
					t.Errorf("%s is routed from outside; only the cluster may reach it", p)
				}
			}
		})
	}
}

func checkIngressBackends(t *testing.T, o *objects, ing networkingv1.Ingress) {
	t.Helper()
	ports := map[string]bool{}
	for _, s := range o.services {
		for _, p := range s.Spec.Ports {
			ports[s.Name+"/"+p.Name] = true
		}
	}
	for _, rule := range ing.Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			b := p.Backend.Service
			if b == nil || !ports[b.Name+"/"+b.Port.Name] {
				t.Errorf("path %s: backend %+v is not a port of a Service", p.Path, p.Backend)
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
		if got := routed(ing, path); got != want {
			t.Errorf("routed(%q) = %v, want %v", path, got, want)
		}
	}
}
