package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	components "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	configuration "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
	httpendpoint "github.com/dapr/dapr/pkg/apis/httpEndpoint/v1alpha1"
	resiliency "github.com/dapr/dapr/pkg/apis/resiliency/v1alpha1"
	subscriptions "github.com/dapr/dapr/pkg/apis/subscriptions/v2alpha1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/bankabc/vouchers/tools/runner"
)

// root is the repository's root (this module is deploy/).
const root = ".."

// apps are the app ids of the system (dapr.yaml); the provider fake runs
// locally and in Compose only.
var apps = []string{"gateway", "voucher-int", "voucher", "sms"}

// objects is a decoded set of manifests, by kind.
type objects struct {
	deployments   []appsv1.Deployment
	services      []corev1.Service
	ingresses     []networkingv1.Ingress
	netpols       []networkingv1.NetworkPolicy
	hpas          []autoscalingv2.HorizontalPodAutoscaler
	pdbs          []policyv1.PodDisruptionBudget
	namespaces    []corev1.Namespace
	secrets       []corev1.Secret
	components    []components.Component
	configs       []configuration.Configuration
	endpoints     []httpendpoint.HTTPEndpoint
	resiliencies  []resiliency.Resiliency
	subscriptions []subscriptions.Subscription
	accounts      []corev1.ServiceAccount
	roles         []rbacv1.Role
	bindings      []rbacv1.RoleBinding
}

// decodeAll decodes every YAML document strictly into the API type of its
// kind: an unknown field, a misspelt key or an unknown kind fails.
func decodeAll(t *testing.T, name string, text []byte) *objects {
	t.Helper()
	o := &objects{}
	for i, doc := range runner.SplitDocs(text) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		require.NoError(t, yaml.Unmarshal(doc, &head), "%s document %d", name, i+1)
		if head.Kind == "" {
			continue // comments only
		}
		var err error
		into := func(v any) { err = yaml.UnmarshalStrict(doc, v) }
		switch head.APIVersion + "/" + head.Kind {
		case "apps/v1/Deployment":
			var v appsv1.Deployment
			into(&v)
			o.deployments = append(o.deployments, v)
		case "v1/Service":
			var v corev1.Service
			into(&v)
			o.services = append(o.services, v)
		case "networking.k8s.io/v1/Ingress":
			var v networkingv1.Ingress
			into(&v)
			o.ingresses = append(o.ingresses, v)
		case "networking.k8s.io/v1/NetworkPolicy":
			var v networkingv1.NetworkPolicy
			into(&v)
			o.netpols = append(o.netpols, v)
		case "autoscaling/v2/HorizontalPodAutoscaler":
			var v autoscalingv2.HorizontalPodAutoscaler
			into(&v)
			o.hpas = append(o.hpas, v)
		case "policy/v1/PodDisruptionBudget":
			var v policyv1.PodDisruptionBudget
			into(&v)
			o.pdbs = append(o.pdbs, v)
		case "v1/Namespace":
			var v corev1.Namespace
			into(&v)
			o.namespaces = append(o.namespaces, v)
		case "v1/Secret":
			var v corev1.Secret
			into(&v)
			o.secrets = append(o.secrets, v)
		case "dapr.io/v1alpha1/Component":
			var v components.Component
			into(&v)
			o.components = append(o.components, v)
		case "dapr.io/v1alpha1/Configuration":
			var v configuration.Configuration
			into(&v)
			o.configs = append(o.configs, v)
		case "dapr.io/v1alpha1/HTTPEndpoint":
			var v httpendpoint.HTTPEndpoint
			into(&v)
			o.endpoints = append(o.endpoints, v)
		case "dapr.io/v1alpha1/Resiliency":
			var v resiliency.Resiliency
			into(&v)
			o.resiliencies = append(o.resiliencies, v)
		case "dapr.io/v2alpha1/Subscription":
			var v subscriptions.Subscription
			into(&v)
			o.subscriptions = append(o.subscriptions, v)
		case "v1/ServiceAccount":
			var v corev1.ServiceAccount
			into(&v)
			o.accounts = append(o.accounts, v)
		case "rbac.authorization.k8s.io/v1/Role":
			var v rbacv1.Role
			into(&v)
			o.roles = append(o.roles, v)
		case "rbac.authorization.k8s.io/v1/RoleBinding":
			var v rbacv1.RoleBinding
			into(&v)
			o.bindings = append(o.bindings, v)
		default:
			t.Fatalf("%s document %d: unexpected %s %s", name, i+1, head.APIVersion, head.Kind)
		}
		require.NoError(t, err, "%s document %d (%s)", name, i+1, head.Kind)
	}
	return o
}

// decodeDir decodes every YAML file of a folder.
func decodeDir(t *testing.T, dir string) *objects {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err, dir)
	require.NotEmpty(t, files, "no YAML in %s", dir)
	var all bytes.Buffer
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		all.Write(b)
		all.WriteString("\n---\n")
	}
	return decodeAll(t, dir, all.Bytes())
}

func meta(c components.Component, name string) (value string, ref string) {
	for _, m := range c.Spec.Metadata {
		if m.Name == name {
			if m.SecretKeyRef.Name != "" {
				return "", m.SecretKeyRef.Name + "/" + m.SecretKeyRef.Key
			}
			return m.Value.String(), ""
		}
	}
	return "", ""
}

// shape is what must stay the same across profiles: each component's name,
// building block and scopes.
func shape(o *objects) []string {
	var out []string
	for _, c := range o.components {
		block, _, _ := strings.Cut(c.Spec.Type, ".")
		scopes := append([]string(nil), c.Scopes...)
		sort.Strings(scopes)
		out = append(out, fmt.Sprintf("%s %s scopes=%v", c.Name, block, scopes))
	}
	for _, e := range o.endpoints {
		out = append(out, "httpendpoint "+e.Name)
	}
	sort.Strings(out)
	return out
}
