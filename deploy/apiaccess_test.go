package deploy

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// TestKubernetesAPIAccess: in Kubernetes mode daprd loads a built-in
// Kubernetes secret store, which needs a service-account token to start.
// The apps' pods mount none (automountServiceAccountToken: false), so
// each sidecar must have that store off; the one that reads Secrets
// (gateway's secretstore component) gets a token mounted into daprd alone,
// and its Role may get exactly the Secrets the Configuration lets the app
// read. make test-k8s found the missing annotation: every daprd exited
// with "stat /.kube/config: no such file or directory".
func TestKubernetesAPIAccess(t *testing.T) {
	// The local overlay too: its pods run on make test-k8s's node.
	for _, dir := range append(slices.Clone(kustomizations), "deploy/kubernetes/overlays/local") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := decodeAll(t, dir, build(t, dir))
			var allowed []string
			for _, c := range o.configs {
				for _, s := range c.Spec.Secrets.Scopes {
					allowed = append(allowed, s.AllowedSecrets...)
				}
			}
			readers := map[string]bool{} // service accounts whose daprd reads Secrets
			for _, c := range o.components {
				if c.Spec.Type == "secretstores.kubernetes" {
					for _, app := range c.Scopes {
						readers[app] = true
					}
				}
			}
			for _, d := range o.deployments {
				spec := d.Spec.Template.Spec
				ann := d.Spec.Template.Annotations
				if ann["dapr.io/enabled"] != "true" {
					continue
				}
				require.NotNil(t, spec.AutomountServiceAccountToken, "deployment %s: automountServiceAccountToken unset (defaults to true)", d.Name)
				assert.False(t, *spec.AutomountServiceAccountToken, "deployment %s: the app container gets an API token", d.Name)
				assert.Equal(t, "true", ann["dapr.io/disable-builtin-k8s-secret-store"],
					"deployment %s: daprd's built-in Kubernetes secret store cannot start without a token", d.Name)
				mount := ann["dapr.io/volume-mounts"]
				if !readers[ann["dapr.io/app-id"]] {
					assert.NotContains(t, mount, "/var/run/secrets/kubernetes.io/serviceaccount", "deployment %s: daprd gets an API token it has no use for", d.Name)
					continue
				}
				// The reader: a token for daprd only, a Role for the allowed Secrets.
				vol, _, ok := strings.Cut(mount, ":/var/run/secrets/kubernetes.io/serviceaccount")
				require.True(t, ok, "deployment %s: its secretstore component needs an API token mounted into daprd (dapr.io/volume-mounts)", d.Name)
				i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == vol })
				require.GreaterOrEqual(t, i, 0, "deployment %s: no volume %s", d.Name, vol)
				require.NotNil(t, spec.Volumes[i].Projected, "deployment %s: volume %s is not a projected token", d.Name, vol)
				for _, c := range spec.Containers {
					for _, m := range c.VolumeMounts {
						assert.NotEqual(t, vol, m.Name, "deployment %s: container %s mounts the API token", d.Name, c.Name)
					}
				}
				sa := spec.ServiceAccountName
				require.NotEmpty(t, sa, "deployment %s: the default service account reads Secrets", d.Name)
				var granted []string
				for _, b := range o.bindings {
					if !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool { return s.Kind == "ServiceAccount" && s.Name == sa }) {
						continue
					}
					for _, r := range o.roles {
						if b.RoleRef.Kind != "Role" || b.RoleRef.Name != r.Name {
							continue
						}
						for _, rule := range r.Rules {
							assert.Equal(t, []string{"get"}, rule.Verbs, "role %s: verbs", r.Name)
							assert.Equal(t, []string{"secrets"}, rule.Resources, "role %s: resources", r.Name)
							assert.NotEmpty(t, rule.ResourceNames, "role %s: every Secret of the namespace", r.Name)
							granted = append(granted, rule.ResourceNames...)
						}
					}
				}
				slices.Sort(granted)
				want := slices.Clone(allowed)
				slices.Sort(want)
				assert.Equal(t, want, granted, "deployment %s: the Secrets its Role grants and the Configuration allows", d.Name)
			}
		})
	}
}
