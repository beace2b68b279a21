package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NotEmpty(t, deployedIn, "the production overlay sets no namespace")
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := decodeAll(t, dir, build(t, dir))
			require.Len(t, o.configs, 1, "Configurations, want the one every sidecar uses")
			c := o.configs[0]
			ns := deployedIn
			for _, d := range o.deployments {
				if d.Namespace != "" {
					ns = d.Namespace
				}
				assert.Equal(t, c.Name, d.Spec.Template.Annotations["dapr.io/config"], "deployment %s uses another Configuration", d.Name)
			}
			if m := c.Spec.MTLSSpec; m != nil && m.Enabled != nil && !*m.Enabled {
				t.Error("the Configuration turns mTLS off")
			}
			ac := c.Spec.AccessControlSpec
			require.NotNil(t, ac, "the Configuration has no accessControl")
			assert.Equal(t, "deny", ac.DefaultAction, "accessControl: defaultAction")
			assert.Equal(t, "public", ac.TrustDomain, "accessControl: trustDomain")
			var allowed []string
			seen := map[string]bool{}
			for _, p := range ac.AppPolicies {
				assert.Contains(t, apps, p.AppName, "policy for %q: not an app of the cluster", p.AppName)
				if seen[p.AppName] {
					t.Errorf("two policies for %s: daprd keeps one", p.AppName)
				}
				seen[p.AppName] = true
				// daprd refuses a policy without a trust domain or a
				// namespace; one naming another namespace never matches.
				assert.Equal(t, "public", p.TrustDomain, "policy for %s: trustDomain", p.AppName)
				assert.Equal(t, ns, p.Namespace, "policy for %s: namespace", p.AppName)
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
					assert.NotEmpty(t, op.HTTPVerb, "policy for %s, %s: allowed for no httpVerb, which allows it over gRPC", p.AppName, op.Operation)
					for _, v := range op.HTTPVerb {
						if v == "*" || v != strings.ToUpper(v) {
							t.Errorf("policy for %s, %s: httpVerb %q", p.AppName, op.Operation, v)
						}
						allowed = append(allowed, p.AppName+" "+v+" "+op.Operation)
					}
				}
			}
			slices.Sort(allowed)
			assert.Equal(t, invocations, allowed, "service invocation allows exactly these")

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
					assert.Equal(t, "deny", s.DefaultAccess, "secretstore: defaultAccess")
					assert.Equal(t, []string{"jwt-key-id", "jwt-signing-key", "ops-token"}, got, "secretstore: allowedSecrets, want gateway's three")
				}
			}
			assert.True(t, scoped, "the secret store secretstore has no scope: gateway could read every Secret of the namespace")
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
	require.NoError(t, err)
	o := decodeAll(t, "compose config", b)
	for _, c := range o.configs {
		if ac := c.Spec.AccessControlSpec; ac != nil && (ac.DefaultAction != "" || len(ac.AppPolicies) > 0) {
			t.Errorf("compose Configuration %s has access control: without mTLS it would apply %q to every caller", c.Name, ac.DefaultAction)
		}
	}
}
