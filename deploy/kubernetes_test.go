package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/bankabc/vouchers/tools/runner"
)

// build renders a kustomization as `kubectl kustomize` would.
func build(t *testing.T, dir string) []byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root, dir))
	require.NoError(t, err, "kustomize build %s", dir)
	out, err := m.AsYaml()
	require.NoError(t, err)
	return out
}

// kustomizations are the Kubernetes directories a cluster is deployed
// from; every manifest test checks each of them as kustomize builds it.
var kustomizations = []string{"deploy/kubernetes/base", "deploy/kubernetes/overlays/production"}

func TestKubernetesManifests(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			checkManifests(t, decodeAll(t, dir, build(t, dir)))
		})
	}
}

func checkManifests(t *testing.T, o *objects) {
	secretsText, err := os.ReadFile(filepath.Join(root, "deploy/kubernetes/secrets.example.yaml"))
	require.NoError(t, err)
	secretKeys := map[string]bool{}
	for _, s := range decodeAll(t, "secrets.example.yaml", secretsText).secrets {
		for k := range s.StringData {
			secretKeys[s.Name+"/"+k] = true
		}
	}

	configs := map[string]bool{}
	for _, c := range o.configs {
		configs[c.Name] = true
	}
	componentsByName := map[string]bool{}
	for _, c := range o.components {
		componentsByName[c.Name] = true
	}

	// Deployments: one per app, with the Dapr annotations, ports, tokens,
	// probes, limits.
	deployed := map[string]bool{}
	tokenSecrets := map[string]string{} // Secret -> the deployment and annotation using it
	for _, d := range o.deployments {
		ann := d.Spec.Template.Annotations
		id := ann["dapr.io/app-id"]
		deployed[id] = true
		assert.Contains(t, apps, id, "deployment %s: app id %q is not one of the apps", d.Name, id)
		for _, k := range []string{"dapr.io/enabled", "dapr.io/app-id", "dapr.io/app-port", "dapr.io/config", "dapr.io/enable-api-logging"} {
			assert.NotEmpty(t, ann[k], "deployment %s: no %s annotation", d.Name, k)
		}
		assert.Equal(t, "true", ann["dapr.io/enabled"], "deployment %s: dapr.io/enabled", d.Name)
		assert.Contains(t, configs, ann["dapr.io/config"], "deployment %s: dapr.io/config %q names no Configuration", d.Name, ann["dapr.io/config"])
		if sel := d.Spec.Selector.MatchLabels; !subset(sel, d.Spec.Template.Labels) || len(sel) == 0 {
			t.Errorf("deployment %s: selector %v does not match its pods %v", d.Name, sel, d.Spec.Template.Labels)
		}
		if sc := d.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("deployment %s: may run as root", d.Name)
		}
		require.Len(t, d.Spec.Template.Spec.Containers, 1, "deployment %s: containers (the sidecar is injected)", d.Name)
		c := d.Spec.Template.Spec.Containers[0]
		checkPorts(t, d)
		checkTokens(t, d, secretKeys, tokenSecrets)
		for _, e := range c.Env {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				continue
			}
			if ref := e.ValueFrom.SecretKeyRef; !secretKeys[ref.Name+"/"+ref.Key] {
				t.Errorf("deployment %s: env %s comes from secret %s key %s, which secrets.example.yaml does not have", d.Name, e.Name, ref.Name, ref.Key)
			}
		}
		if c.ReadinessProbe == nil || c.LivenessProbe == nil || c.StartupProbe == nil {
			t.Errorf("deployment %s: startup, readiness and liveness probes are all needed", d.Name)
		}
		for _, r := range []string{"cpu", "memory"} {
			if c.Resources.Requests.Name(corev1.ResourceName(r), "").IsZero() || c.Resources.Limits.Name(corev1.ResourceName(r), "").IsZero() {
				t.Errorf("deployment %s: no %s request or limit", d.Name, r)
			}
		}
	}
	for _, a := range apps {
		if !deployed[a] {
			t.Errorf("no deployment for %s", a)
		}
	}

	// HPAs for gateway and voucher-int, PDBs for every app, Services that
	// select pods.
	scaled := map[string]bool{}
	for _, h := range o.hpas {
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || !deploymentNamed(o, h.Spec.ScaleTargetRef.Name) {
			t.Errorf("hpa %s targets %s %s", h.Name, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas <= *h.Spec.MinReplicas || len(h.Spec.Metrics) == 0 {
			t.Errorf("hpa %s: min %v max %d metrics %d", h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas, len(h.Spec.Metrics))
		}
		scaled[h.Spec.ScaleTargetRef.Name] = true
	}
	for _, want := range []string{"gateway", "voucher-int"} {
		if !scaled[want] {
			t.Errorf("no HorizontalPodAutoscaler for %s", want)
		}
	}
	budgeted := map[string]bool{}
	for _, p := range o.pdbs {
		for _, d := range o.deployments {
			if subset(p.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
				budgeted[d.Name] = true
			}
		}
	}
	for _, s := range o.services {
		matched := false
		for _, d := range o.deployments {
			if !subset(s.Spec.Selector, d.Spec.Template.Labels) {
				continue
			}
			matched = true
			// The app port, where daprd delivers events and fires cron
			// bindings, is in no Service: only the pod's own daprd and
			// Prometheus (NetworkPolicy metrics-from-prometheus) reach it.
			app := portsOf(t, d).app
			for _, p := range s.Spec.Ports {
				if n, ok := targetOf(d, p.TargetPort); ok && n == app {
					t.Errorf("service %s port %s targets %s's app port %d", s.Name, p.Name, d.Name, app)
				}
			}
		}
		if !matched || len(s.Spec.Selector) == 0 {
			t.Errorf("service %s selects no deployment's pods (%v)", s.Name, s.Spec.Selector)
		}
	}
	for _, d := range o.deployments {
		if !budgeted[d.Name] {
			t.Errorf("no PodDisruptionBudget covers %s", d.Name)
		}
	}

	// Components: scoped, known app ids, secrets that exist.
	for _, c := range o.components {
		assert.NotEmpty(t, c.Scopes, "component %s has no scopes", c.Name)
		for _, s := range c.Scopes {
			assert.Contains(t, apps, s, "component %s: scope %q is no app", c.Name, s)
		}
		for _, m := range c.Spec.Metadata {
			if ref := m.SecretKeyRef; ref.Name != "" && !secretKeys[ref.Name+"/"+ref.Key] {
				t.Errorf("component %s: %s comes from secret %s key %s, which secrets.example.yaml does not have", c.Name, m.Name, ref.Name, ref.Key)
			}
		}
	}
	for _, e := range o.endpoints {
		assert.NotEmpty(t, e.Scopes, "http endpoint %s has no scopes", e.Name)
	}
	// gateway reads these through the secret store component "secretstore".
	for _, name := range []string{"jwt-signing-key", "jwt-key-id", "ops-token"} {
		if !secretKeys[name+"/"+name] {
			t.Errorf("gateway's secret %s (key %s) is not in secrets.example.yaml", name, name)
		}
	}
	if !scopedTo(o, "secretstore", "gateway") || !scopedTo(o, "sms", "sms") {
		t.Errorf("secretstore must be gateway's and sms sms's")
	}

	// Subscriptions name a pub/sub that exists and apps it is scoped to.
	for _, s := range o.subscriptions {
		if !componentsByName[s.Spec.Pubsubname] {
			t.Errorf("subscription %s: pub/sub %q does not exist", s.Name, s.Spec.Pubsubname)
		}
		for _, app := range s.Scopes {
			if !scopedTo(o, s.Spec.Pubsubname, app) {
				t.Errorf("subscription %s: app %s does not load pub/sub %s", s.Name, app, s.Spec.Pubsubname)
			}
		}
	}

	// Resiliency targets name apps, endpoints and components that exist.
	for _, r := range o.resiliencies {
		for name := range r.Spec.Targets.Apps {
			if !slices.Contains(apps, name) && !endpointNamed(o, name) {
				t.Errorf("resiliency %s: app target %q does not exist", r.Name, name)
			}
		}
		for name := range r.Spec.Targets.Components {
			if !componentsByName[name] {
				t.Errorf("resiliency %s: component target %q does not exist", r.Name, name)
			}
		}
	}

	// The same names as every local profile, so the apps need no change.
	local := map[string]bool{}
	for _, c := range profileObjects(t, "embedded").components {
		local[c.Name] = true
	}
	for name := range local {
		if !componentsByName[name] {
			t.Errorf("component %s of the local profiles is missing", name)
		}
	}
}

// TestKubernetesSharedResourcesMatchTheLocalOnes keeps the subscriptions,
// cron bindings and resiliency of the cluster equal to those every test run
// uses (components/common).
func TestKubernetesSharedResourcesMatchTheLocalOnes(t *testing.T) {
	for _, f := range []string{"cron.yaml", "resiliency.yaml", "subscriptions.yaml"} {
		local := decodeFile(t, filepath.Join(root, "components/common", f))
		cluster := decodeFile(t, filepath.Join(root, "deploy/kubernetes/base/components", f))
		assert.Equal(t, local, cluster, "deploy/kubernetes/base/components/%s differs from components/common/%s", f, f)
	}
}

// cronBindings are the cron input bindings and the apps whose sidecars fire
// them (POST /<name> on the app).
var cronBindings = map[string][]string{
	"reconcile":       {"voucher-int"},
	"webhook-sweep":   {"gateway"},
	"request-redrive": {"gateway"},
	"outbox-relay":    {"gateway", "voucher-int"},
}

// TestCronBindingsAreDeclaredEverywhere: every cron binding reaches the
// sidecars of its apps, and only theirs, in the local profiles
// (components/common), in Compose (each sidecar's mounted resources) and in
// the cluster.
func TestCronBindingsAreDeclaredEverywhere(t *testing.T) {
	checkCronBindings(t, "components/common", decodeDir(t, filepath.Join(root, "components", "common")), apps)
	for _, dir := range kustomizations {
		checkCronBindings(t, dir, decodeAll(t, dir, build(t, dir)), apps)
	}
	p := loadCompose(t)
	for app := range composeApps {
		checkCronBindings(t, "compose "+app+"-dapr", composeResources(t, p, app), []string{app})
	}
}

// checkCronBindings checks o's cron bindings against cronBindings, for the
// sidecars of the apps given.
func checkCronBindings(t *testing.T, where string, o *objects, apps []string) {
	t.Helper()
	loaded := map[string][]string{} // app -> cron bindings its sidecar loads
	for _, c := range o.components {
		if c.Spec.Type != "bindings.cron" {
			continue
		}
		assert.Contains(t, cronBindings, c.Name, "%s: cron binding %s is not one of cronBindings", where, c.Name)
		direction, _ := meta(c, "direction")
		assert.Equal(t, "input", direction, "%s: cron binding %s: direction", where, c.Name)
		schedule, _ := meta(c, "schedule")
		assert.NotEmpty(t, schedule, "%s: cron binding %s has no schedule", where, c.Name)
		for _, app := range apps {
			if len(c.Scopes) == 0 || slices.Contains(c.Scopes, app) {
				loaded[app] = append(loaded[app], c.Name)
			}
		}
	}
	for _, app := range apps {
		var want []string
		for name, scopes := range cronBindings {
			if slices.Contains(scopes, app) {
				want = append(want, name)
			}
		}
		got := loaded[app]
		sort.Strings(got)
		sort.Strings(want)
		assert.Equal(t, want, got, "%s: the cron bindings %s's sidecar fires", where, app)
	}
}

// unmarshalFile decodes the one YAML document at rel (from the
// repository's root) into v.
func unmarshalFile(t *testing.T, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, v), rel)
}

func decodeFile(t *testing.T, path string) []any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []any
	for _, d := range runner.SplitDocs(b) {
		var v any
		require.NoError(t, yaml.Unmarshal(d, &v), path)
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func deploymentNamed(o *objects, name string) bool {
	for _, d := range o.deployments {
		if d.Name == name {
			return true
		}
	}
	return false
}

func endpointNamed(o *objects, name string) bool {
	for _, e := range o.endpoints {
		if e.Name == name {
			return true
		}
	}
	return false
}

// scopedTo tells whether app loads the named component (no scopes: all).
func scopedTo(o *objects, component, app string) bool {
	for _, c := range o.components {
		if c.Name == component {
			return len(c.Scopes) == 0 || slices.Contains(c.Scopes, app)
		}
	}
	return false
}

// publicPorts are the apps with a public port (PUBLIC_PORT) besides the app
// port daprd calls: gateway's API and web page, voucher-int's provider
// callback. The others have the app port alone.
var publicPorts = map[string]int32{"gateway": 8080, "voucher-int": 8085}

// ports are a Deployment's ports as its app reads them: the app port
// (APP_PORT, the one daprd calls, /metrics and the probes) and the public
// port (PUBLIC_PORT; 0 when there is none).
type ports struct{ app, public int32 }

func portsOf(t *testing.T, d appsv1.Deployment) ports {
	t.Helper()
	env := envOf(d.Spec.Template.Spec.Containers[0])
	var p ports
	if n, err := strconv.Atoi(env["APP_PORT"]); err == nil {
		p.app = int32(n)
	}
	if v := env["PUBLIC_PORT"]; v != "" {
		n, err := strconv.Atoi(v)
		assert.NoError(t, err, "deployment %s: PUBLIC_PORT %q", d.Name, v)
		p.public = int32(n)
	}
	return p
}

// checkPorts: the app port is APP_PORT, dapr.io/app-port and the container
// port named app; an app with a public port has it as PUBLIC_PORT and the
// container port named public, on every interface of the pod. (Before the
// public ports, each container had one port, the app port; gateway's API
// was on it.)
func checkPorts(t *testing.T, d appsv1.Deployment) {
	t.Helper()
	ann := d.Spec.Template.Annotations
	id := ann["dapr.io/app-id"]
	c := d.Spec.Template.Spec.Containers[0]
	env := envOf(c)
	p := portsOf(t, d)
	assert.Equal(t, ann["dapr.io/app-port"], env["APP_PORT"], "deployment %s: APP_PORT and dapr.io/app-port", d.Name)
	assert.NotZero(t, p.app, "deployment %s: APP_PORT %q", d.Name, env["APP_PORT"])
	assert.Equal(t, publicPorts[id], p.public, "deployment %s: PUBLIC_PORT", d.Name)
	want := map[string]int32{"app": p.app}
	if p.public != 0 {
		want["public"] = p.public
		assert.NotEqual(t, p.app, p.public, "deployment %s: the public port is the app port", d.Name)
		// Containers must listen beyond the loopback for the Service.
		assert.Equal(t, "0.0.0.0", env["PUBLIC_HOST"], "deployment %s: PUBLIC_HOST", d.Name)
	}
	got := map[string]int32{}
	for _, cp := range c.Ports {
		got[cp.Name] = cp.ContainerPort
	}
	assert.Equal(t, want, got, "deployment %s: container ports (app: APP_PORT, public: PUBLIC_PORT)", d.Name)
}

// checkTokens: daprd and the app share each token through one Secret (key
// token): the app token (dapr.io/app-token-secret, env APP_API_TOKEN) that
// daprd sends the app, and the Dapr API token (dapr.io/api-token-secret,
// env DAPR_API_TOKEN) that the app sends daprd. Every app has two Secrets
// of its own; each exists in secrets.example.yaml. used collects which
// deployment uses which Secret, across the deployments.
func checkTokens(t *testing.T, d appsv1.Deployment, secretKeys map[string]bool, used map[string]string) {
	t.Helper()
	ann := d.Spec.Template.Annotations
	c := d.Spec.Template.Spec.Containers[0]
	for _, tok := range []struct{ annotation, env string }{
		{"dapr.io/app-token-secret", "APP_API_TOKEN"},
		{"dapr.io/api-token-secret", "DAPR_API_TOKEN"},
	} {
		secret := ann[tok.annotation]
		if secret == "" {
			t.Errorf("deployment %s: no %s annotation", d.Name, tok.annotation)
			continue
		}
		if !secretKeys[secret+"/token"] {
			t.Errorf("deployment %s: %s names secret %s, which secrets.example.yaml does not have with key token", d.Name, tok.annotation, secret)
		}
		if prev, ok := used[secret]; ok {
			t.Errorf("deployment %s: %s names secret %s, already used by %s: every app and direction has its own", d.Name, tok.annotation, secret, prev)
		}
		used[secret] = d.Name + " " + tok.annotation
		var from *corev1.SecretKeySelector
		for _, e := range c.Env {
			if e.Name != tok.env {
				continue
			}
			if e.Value != "" {
				t.Errorf("deployment %s: %s is written in the manifest", d.Name, tok.env)
			}
			if e.ValueFrom != nil {
				from = e.ValueFrom.SecretKeyRef
			}
		}
		if from == nil || from.Name != secret || from.Key != "token" {
			t.Errorf("deployment %s: %s must come from secret %s key token (what daprd reads, %s), comes from %+v", d.Name, tok.env, secret, tok.annotation, from)
		}
	}
	if _, ok := envOf(c)["ALLOW_NO_APP_TOKEN"]; ok {
		t.Errorf("deployment %s: ALLOW_NO_APP_TOKEN is for tests only", d.Name)
	}
}

// targetOf resolves a Service's targetPort on a Deployment's pods: a number
// as it is, a name through the app container's ports.
func targetOf(d appsv1.Deployment, target intstr.IntOrString) (int32, bool) {
	if target.Type == intstr.Int {
		return target.IntVal, true
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == target.StrVal {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}
