package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// invocations are the service invocations the cluster allows, as
// "<caller> <verb> <operation>": gateway reads vouchers from voucher and
// asks sms whether a message was sent. The provider fake, the one other
// caller (of voucher-int's callback), runs locally and in Compose only.
var invocations = []string{
	"gateway GET /sent/*",
	"gateway GET /vouchers",
	"gateway GET /vouchers/*",
}

// TestKubernetesDaprAccessControl: the sidecars deny every service
// invocation but those above, and nothing turns mTLS off (the policies
// identify the caller by its certificate).
func TestKubernetesDaprAccessControl(t *testing.T) {
	// The namespace the production overlay deploys into: the base has none,
	// but its policies must name the one they will run in.
	var deployedIn string
	for _, d := range decodeAll(t, "production", build(t, kustomizations[1])).deployments {
		deployedIn = d.Namespace
	}
	if deployedIn == "" {
		t.Fatal("the production overlay sets no namespace")
	}
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := decodeAll(t, dir, build(t, dir))
			if len(o.configs) != 1 {
				t.Fatalf("%d Configurations, want the one every sidecar uses", len(o.configs))
			}
			c := o.configs[0]
			ns := deployedIn
			for _, d := range o.deployments {
				if d.Namespace != "" {
					ns = d.Namespace
				}
				if d.Spec.Template.Annotations["dapr.io/config"] != c.Name {
					t.Errorf("deployment %s uses Configuration %q, not %s", d.Name, d.Spec.Template.Annotations["dapr.io/config"], c.Name)
				}
			}
			if m := c.Spec.MTLSSpec; m != nil && m.Enabled != nil && !*m.Enabled {
				t.Error("the Configuration turns mTLS off")
			}
			ac := c.Spec.AccessControlSpec
			if ac == nil {
				t.Fatal("the Configuration has no accessControl")
			}
			if ac.DefaultAction != "deny" || ac.TrustDomain != "public" {
				t.Errorf("accessControl: defaultAction %q trustDomain %q, want deny and public", ac.DefaultAction, ac.TrustDomain)
			}
			var allowed []string
			seen := map[string]bool{}
			for _, p := range ac.AppPolicies {
				if !contains(apps, p.AppName) {
					t.Errorf("policy for %q: not an app of the cluster", p.AppName)
				}
				if seen[p.AppName] {
					t.Errorf("two policies for %s: daprd keeps one", p.AppName)
				}
				seen[p.AppName] = true
				// daprd refuses a policy without a trust domain or a
				// namespace; one naming another namespace never matches.
				if p.TrustDomain != "public" || p.Namespace != ns {
					t.Errorf("policy for %s: trustDomain %q namespace %q, want public and %s", p.AppName, p.TrustDomain, p.Namespace, ns)
				}
				if p.DefaultAction != "" && p.DefaultAction != "deny" {
					t.Errorf("policy for %s: defaultAction %q", p.AppName, p.DefaultAction)
				}
				for _, op := range p.AppOperationActions {
					switch op.Action {
					case "allow":
					case "deny":
						continue
					default:
						t.Errorf("policy for %s, %s: action %q, want allow or deny", p.AppName, op.Operation, op.Action)
						continue
					}
					// An allow without verbs would allow every gRPC
					// invocation of the operation; "*" every verb.
					if len(op.HTTPVerb) == 0 {
						t.Errorf("policy for %s, %s: allowed for no httpVerb, which allows it over gRPC", p.AppName, op.Operation)
					}
					for _, v := range op.HTTPVerb {
						if v == "*" || v != strings.ToUpper(v) {
							t.Errorf("policy for %s, %s: httpVerb %q", p.AppName, op.Operation, v)
						}
						allowed = append(allowed, p.AppName+" "+v+" "+op.Operation)
					}
				}
			}
			slices.Sort(allowed)
			if !slices.Equal(allowed, invocations) {
				t.Errorf("service invocation allows %q, want exactly %q", allowed, invocations)
			}

			// gateway's secret store reads gateway's secrets only, not the
			// other Secrets of the namespace (the Dapr tokens among them).
			var scoped bool
			if c.Spec.Secrets != nil {
				for _, s := range c.Spec.Secrets.Scopes {
					if s.StoreName != "secretstore" {
						continue
					}
					scoped = true
					got := slices.Sorted(slices.Values(s.AllowedSecrets))
					if s.DefaultAccess != "deny" || !slices.Equal(got, []string{"jwt-key-id", "jwt-signing-key", "ops-token"}) {
						t.Errorf("secretstore: defaultAccess %q allowedSecrets %v, want deny and gateway's three", s.DefaultAccess, got)
					}
				}
			}
			if !scoped {
				t.Error("the secret store secretstore has no scope: gateway could read every Secret of the namespace")
			}
		})
	}
}

// TestComposeHasNoAccessControl: Compose runs no Sentry, so its sidecars
// cannot identify a caller, and daprd applies an access control policy's
// global default to every call: a default deny would refuse all service
// invocation. The apps' own caller checks hold there
// (deploy/compose/config.yaml says so).
func TestComposeHasNoAccessControl(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "deploy/compose/config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	o := decodeAll(t, "compose config", b)
	for _, c := range o.configs {
		if ac := c.Spec.AccessControlSpec; ac != nil && (ac.DefaultAction != "" || len(ac.AppPolicies) > 0) {
			t.Errorf("compose Configuration %s has access control: without mTLS it would apply %q to every caller", c.Name, ac.DefaultAction)
		}
	}
}
