package deploy

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The ports daprd listens on in every pod (the injector's defaults; the
// Deployments set dapr.io/metrics-port to 9090): its HTTP and gRPC APIs,
// for its own app over the loopback; its internal gRPC port, for the other
// sidecars; its public health port, for the kubelet; its metrics.
var daprdPorts = []corev1.ContainerPort{
	{Name: "dapr-http", ContainerPort: 3500},
	{Name: "dapr-grpc", ContainerPort: 50001},
	{Name: "dapr-internal", ContainerPort: 50002},
	{Name: "dapr-metrics", ContainerPort: 9090},
	{ContainerPort: 3501},
}

const daprInternalPort, daprMetricsPort = 50002, 9090

// source is a pod that may try to connect to ours.
type source struct {
	name string
	// sameNamespace: in the namespace of our pods (what a podSelector
	// without namespaceSelector matches).
	sameNamespace bool
	nsLabels      map[string]string
	podLabels     map[string]string
}

func nsLabels(name string) map[string]string {
	return map[string]string{"kubernetes.io/metadata.name": name}
}

// The sources the policies are tried with (networkpolicy.yaml says which
// namespaces and labels the cluster has).
var (
	ingressController = source{name: "the ingress controller", nsLabels: nsLabels("ingress-nginx"),
		podLabels: map[string]string{"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}}
	prometheus = source{name: "Prometheus", nsLabels: nsLabels("monitoring"),
		podLabels: map[string]string{"app.kubernetes.io/name": "prometheus"}}
	daprPeer = source{name: "another Dapr app's pod", sameNamespace: true, nsLabels: nsLabels("vouchers"),
		podLabels: map[string]string{"dapr.io/sidecar-injected": "true", "dapr.io/app-id": "voucher", "app.kubernetes.io/name": "voucher", "app.kubernetes.io/part-of": "vouchers"}}
	sources = []source{
		ingressController, prometheus, daprPeer,
		{name: "another pod of the ingress namespace", nsLabels: nsLabels("ingress-nginx"),
			podLabels: map[string]string{"app.kubernetes.io/name": "ingress-nginx-admission"}},
		{name: "Grafana", nsLabels: nsLabels("monitoring"), podLabels: map[string]string{"app.kubernetes.io/name": "grafana"}},
		{name: "a pod without a sidecar", sameNamespace: true, nsLabels: nsLabels("vouchers"),
			podLabels: map[string]string{"app.kubernetes.io/name": "debug"}},
		{name: "a Dapr app of another namespace", nsLabels: nsLabels("default"),
			podLabels: map[string]string{"dapr.io/sidecar-injected": "true", "dapr.io/app-id": "voucher"}},
		{name: "the Dapr control plane", nsLabels: nsLabels("dapr-system"),
			podLabels: map[string]string{"app.kubernetes.io/name": "dapr", "app": "dapr-sentry"}},
	}
)

// TestKubernetesNetworkPolicies evaluates the NetworkPolicies, with
// Kubernetes' rules, for every pod of every Deployment (its template's
// labels and those the Dapr injector adds) and each source above, on
// every port the pod listens on: the ingress controller reaches the public
// ports and nothing else, Prometheus the app port and daprd's metrics, the
// other sidecars daprd's internal port; nothing else reaches anything.
func TestKubernetesNetworkPolicies(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := decodeAll(t, dir, build(t, dir))
			defaultDeny := false
			for _, np := range o.netpols {
				if len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 &&
					slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && len(np.Spec.Ingress) == 0 {
					defaultDeny = true
				}
				for _, rule := range np.Spec.Ingress {
					for _, peer := range rule.From {
						assert.Nil(t, peer.IPBlock, "networkpolicy %s: an ipBlock; the policies name pods by labels only", np.Name)
					}
				}
			}
			assert.True(t, defaultDeny, "no default-deny NetworkPolicy (podSelector {}, policyTypes [Ingress], no rules)")

			for _, d := range o.deployments {
				p := portsOf(t, d)
				want := map[string][]int32{
					ingressController.name: nil,
					prometheus.name:        {p.app, daprMetricsPort},
					daprPeer.name:          {daprInternalPort},
				}
				if p.public != 0 {
					want[ingressController.name] = []int32{p.public}
				}
				for _, src := range sources {
					var got []int32
					for _, port := range listening(d) {
						if admitted(o.netpols, d, src, port) {
							got = append(got, port)
						}
					}
					slices.Sort(got)
					slices.Sort(want[src.name])
					assert.Equal(t, want[src.name], got, "the ports %s reaches %s on", src.name, d.Name)
				}
				if p.public != 0 && !admitted(o.netpols, d, ingressController, p.public) {
					t.Errorf("the ingress controller cannot reach %s's public port %d", d.Name, p.public)
				}
			}

			// Whatever pod of the ingress namespace it admits, no rule
			// opens an app port (APP_PORT) to it, nor every port.
			for _, np := range o.netpols {
				for _, rule := range np.Spec.Ingress {
					if !admitsNamespace(rule, ingressController.nsLabels) {
						continue
					}
					for _, d := range o.deployments {
						if !selects(np.Spec.PodSelector, podLabels(d)) {
							continue
						}
						if len(rule.Ports) == 0 || portsMatch(rule.Ports, d, portsOf(t, d).app) {
							t.Errorf("networkpolicy %s opens %s's app port %d to the ingress namespace", np.Name, d.Name, portsOf(t, d).app)
						}
					}
				}
			}
		})
	}
}

// TestNetworkPolicyEvaluation keeps the evaluator honest: a pod no policy
// selects takes every connection; the default deny alone shuts it.
func TestNetworkPolicyEvaluation(t *testing.T) {
	d := appsv1.Deployment{}
	d.Name = "x"
	d.Spec.Template.Labels = map[string]string{"app.kubernetes.io/name": "x"}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "app", ContainerPort: 8000}}}}
	deny := networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	named := intstr.FromString("app")
	allowApp := networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "x"}},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: nsLabels("monitoring")}}},
			Ports: []networkingv1.NetworkPolicyPort{{Port: &named}},
		}},
	}}
	for _, c := range []struct {
		policies []networkingv1.NetworkPolicy
		src      source
		port     int32
		want     bool
	}{
		{nil, ingressController, 8000, true},
		{[]networkingv1.NetworkPolicy{deny}, ingressController, 8000, false},
		{[]networkingv1.NetworkPolicy{deny, allowApp}, prometheus, 8000, true},
		{[]networkingv1.NetworkPolicy{deny, allowApp}, prometheus, 3500, false},
		{[]networkingv1.NetworkPolicy{deny, allowApp}, ingressController, 8000, false},
		{[]networkingv1.NetworkPolicy{deny, allowApp}, daprPeer, 8000, false},
	} {
		assert.Equal(t, c.want, admitted(c.policies, d, c.src, c.port), "%d policies, %s to port %d: admitted", len(c.policies), c.src.name, c.port)
	}
}

// podLabels are a Deployment's pods' labels once the Dapr injector added
// its own.
func podLabels(d appsv1.Deployment) map[string]string {
	l := map[string]string{}
	for k, v := range d.Spec.Template.Labels {
		l[k] = v
	}
	if d.Spec.Template.Annotations["dapr.io/enabled"] == "true" {
		l["dapr.io/sidecar-injected"] = "true"
		l["dapr.io/app-id"] = d.Spec.Template.Annotations["dapr.io/app-id"]
		l["dapr.io/metrics-enabled"] = "true"
	}
	return l
}

// podPorts are the named ports of a Deployment's pod: its containers' and,
// with a sidecar, daprd's.
func podPorts(d appsv1.Deployment) []corev1.ContainerPort {
	var all []corev1.ContainerPort
	for _, c := range d.Spec.Template.Spec.Containers {
		all = append(all, c.Ports...)
	}
	if d.Spec.Template.Annotations["dapr.io/enabled"] == "true" {
		all = append(all, daprdPorts...)
	}
	return all
}

// listening is every port a Deployment's pod listens on.
func listening(d appsv1.Deployment) []int32 {
	var out []int32
	for _, p := range podPorts(d) {
		out = append(out, p.ContainerPort)
	}
	return out
}

// admitted tells whether src may open a TCP connection to port of d's pods:
// yes when no policy selects the pods for ingress, else when one of the
// policies that select them has a rule admitting src on that port.
func admitted(policies []networkingv1.NetworkPolicy, d appsv1.Deployment, src source, port int32) bool {
	isolated := false
	for _, np := range policies {
		if !selects(np.Spec.PodSelector, podLabels(d)) || !forIngress(np) {
			continue
		}
		isolated = true
		for _, rule := range np.Spec.Ingress {
			if (len(rule.Ports) == 0 || portsMatch(rule.Ports, d, port)) && peersMatch(rule.From, src) {
				return true
			}
		}
	}
	return !isolated
}

func forIngress(np networkingv1.NetworkPolicy) bool {
	if len(np.Spec.PolicyTypes) == 0 {
		return true // Ingress is implied
	}
	return slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
}

func selects(sel metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(l))
}

// peersMatch: no peers admit every source; a podSelector alone, pods of
// the policy's namespace; a namespaceSelector, pods of the namespaces it
// selects (and, with a podSelector, only those pods of them).
func peersMatch(peers []networkingv1.NetworkPolicyPeer, src source) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		switch {
		case p.IPBlock != nil:
			return true // assume the worst
		case p.NamespaceSelector != nil:
			if !selects(*p.NamespaceSelector, src.nsLabels) {
				continue
			}
			if p.PodSelector == nil || selects(*p.PodSelector, src.podLabels) {
				return true
			}
		case p.PodSelector != nil:
			if src.sameNamespace && selects(*p.PodSelector, src.podLabels) {
				return true
			}
		}
	}
	return false
}

// admitsNamespace: the rule admits at least some pod of the namespace with
// these labels, whatever its own labels.
func admitsNamespace(rule networkingv1.NetworkPolicyIngressRule, ns map[string]string) bool {
	if len(rule.From) == 0 {
		return true
	}
	for _, p := range rule.From {
		if p.IPBlock != nil || (p.NamespaceSelector != nil && selects(*p.NamespaceSelector, ns)) {
			return true
		}
	}
	return false
}

// portsMatch: a rule's port (TCP, the default protocol) is the number
// itself, a range up to endPort, or a name of the pod's ports; no port is
// every port.
func portsMatch(ports []networkingv1.NetworkPolicyPort, d appsv1.Deployment, port int32) bool {
	for _, p := range ports {
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.Int:
			if p.Port.IntVal == port || (p.EndPort != nil && port >= p.Port.IntVal && port <= *p.EndPort) {
				return true
			}
		default:
			for _, cp := range podPorts(d) {
				if cp.Name != "" && cp.Name == p.Port.StrVal && cp.ContainerPort == port {
					return true
				}
			}
		}
	}
	return false
}
