package k8s

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var c *cluster

// TestMain starts the control plane once for every test. Without the
// binaries or without root (a mount namespace per control-plane process)
// there is nothing to test: K8S_TEST_REQUIRED (make test-k8s sets it)
// makes that a failure, not a skip.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	for _, b := range []string{bin("kube-apiserver"), bin("kube-controller-manager"), bin("kubectl"), bin("etcd"), daprBin("sentry"), daprBin("injector"), daprBin("operator")} {
		if _, err := os.Stat(b); err != nil {
			return skip(fmt.Sprintf("k8s: %s is missing: make test-k8s builds it", b))
		}
	}
	if os.Geteuid() != 0 {
		return skip("k8s: needs root (each Dapr control-plane process gets its Sentry token in a mount namespace of its own)")
	}
	dir, err := os.MkdirTemp("", "vouchers-k8s-")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	logPath := filepath.Join(dir, "cluster.log")
	log, err := os.Create(logPath)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	// Stopped, then removed, whatever happens (deferred in that order).
	defer os.RemoveAll(dir)
	started := time.Now()
	cl, err := startCluster(dir, log)
	if cl != nil {
		defer cl.stop()
	}
	if err == nil {
		fmt.Printf("k8s: etcd, kube-apiserver and kube-controller-manager ready in %.1f s\n", time.Since(started).Seconds())
		started = time.Now()
		err = cl.startDapr()
	}
	if err != nil {
		fmt.Println("k8s: could not start the control plane:", err)
		printTail(logPath, 80)
		keepLog(logPath)
		return 1
	}
	fmt.Printf("k8s: Dapr's sentry, operator and injector ready in %.1f s (the injector's webhook holds Sentry's trust anchors)\n", time.Since(started).Seconds())
	c = cl
	code := m.Run()
	// Every process of both control planes must have lasted the tests.
	if err := cl.exited(); err != nil {
		fmt.Println("k8s:", err)
		code = 1
	}
	if code != 0 {
		printTail(logPath, 120)
		keepLog(logPath)
	}
	return code
}

// keepLog copies the control plane's log out of the test's folder, which
// goes whatever the outcome: it holds the cluster's keys and tokens.
func keepLog(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	kept := filepath.Join(os.TempDir(), fmt.Sprintf("vouchers-k8s-%d.log", time.Now().Unix()))
	if os.WriteFile(kept, b, 0o600) == nil {
		fmt.Println("k8s: the control plane's log is kept at", kept)
	}
}

func skip(msg string) int {
	if os.Getenv("K8S_TEST_REQUIRED") != "" {
		fmt.Println(msg)
		return 1
	}
	fmt.Println(msg + ": skipped")
	return 0
}

func printTail(path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	fmt.Printf("--- last %d lines of the control plane's log ---\n%s\n", len(lines), strings.Join(lines, "\n"))
}

// apps are the Deployments of deploy/kubernetes and the app port each
// one's sidecar calls.
var apps = map[string]string{"gateway": "8090", "voucher-int": "8082", "voucher": "8083", "sms": "8084"}

// applyOverlay applies a kustomization into namespace (made first, with
// the Secrets of secrets.example.yaml, placeholders as they are): what an
// operator does, in the order docs/deploy.md gives.
func applyOverlay(t *testing.T, dir, namespace string) string {
	t.Helper()
	_, err := c.kubectl("create", "namespace", namespace)
	require.NoError(t, err)
	_, err = c.kubectl("apply", "-n", namespace, "-f", filepath.Join(repoRoot, "deploy", "kubernetes", "secrets.example.yaml"))
	require.NoError(t, err)
	args := []string{"apply", "--server-side", "--field-manager=vouchers-test", "-k", filepath.Join(repoRoot, dir)}
	if !strings.Contains(dir, "overlays") {
		args = append(args, "-n", namespace)
	}
	out, err := c.kubectl(args...)
	require.NoError(t, err, "kubectl apply -k %s", dir)
	return out
}

// TestEveryOverlayApplies applies the production overlay and the base
// (into a namespace of its own) with server-side apply, which validates
// each object against its schema (Dapr's CRDs included) and refuses unknown
// fields: 0 errors, and every object of kustomize's output is stored.
func TestEveryOverlayApplies(t *testing.T) {
	for _, tc := range []struct{ dir, namespace string }{
		{"deploy/kubernetes/overlays/production", "vouchers"},
		{"deploy/kubernetes/base", "vouchers-base"},
	} {
		t.Run(filepath.Base(tc.dir), func(t *testing.T) {
			out := applyOverlay(t, tc.dir, tc.namespace)
			built, err := c.kubectl("kustomize", filepath.Join(repoRoot, tc.dir))
			require.NoError(t, err)
			// An object's kind is the one "kind:" at the start of a line.
			objects := strings.Count("\n"+built, "\nkind: ")
			applied := strings.Count(out, " serverside-applied")
			t.Logf("measured: %s: %d objects applied, 0 errors", tc.dir, applied)
			assert.Equal(t, objects, applied, "every object kustomize builds is applied:\n%s", out)
		})
	}
}

type pod struct {
	Metadata struct {
		Name            string            `json:"name"`
		Annotations     map[string]string `json:"annotations"`
		OwnerReferences []struct {
			Kind string `json:"kind"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		Containers     []container `json:"containers"`
		InitContainers []container `json:"initContainers"`
	} `json:"spec"`
}

type container struct {
	Name  string   `json:"name"`
	Image string   `json:"image"`
	Args  []string `json:"args"`
	Env   []struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `json:"name"`
				Key  string `json:"key"`
			} `json:"secretKeyRef"`
		} `json:"valueFrom"`
	} `json:"env"`
	Ports []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	} `json:"ports"`
	Resources struct {
		Requests map[string]string `json:"requests"`
		Limits   map[string]string `json:"limits"`
	} `json:"resources"`
}

// pods waits for the pods the controllers made for app's Deployment in
// namespace (Deployment, ReplicaSet, Pod: nothing here creates a pod
// directly).
func pods(t *testing.T, namespace, app string, want int) []pod {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := c.kubectl("get", "pods", "-n", namespace, "-l", "app.kubernetes.io/name="+app, "-o", "json")
		require.NoError(t, err)
		var list struct{ Items []pod }
		require.NoError(t, json.Unmarshal([]byte(out), &list))
		if len(list.Items) >= want {
			return list.Items
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s: %d pods after 2 minutes, want %d", namespace, app, len(list.Items), want)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// flag is the value after name in args (--name value or --name=value).
func flag(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestTheInjectorAddsDaprdToEveryAppPod reads, from the pods the
// controllers created for each Deployment of the production overlay, the
// daprd container Dapr's injector added, and checks it carries what the
// Deployment's annotations ask for.
func TestTheInjectorAddsDaprdToEveryAppPod(t *testing.T) {
	if _, err := c.kubectl("get", "namespace", "vouchers"); err != nil {
		applyOverlay(t, "deploy/kubernetes/overlays/production", "vouchers")
	}
	for _, app := range slices.Sorted(maps.Keys(apps)) {
		t.Run(app, func(t *testing.T) {
			replicas, err := c.kubectl("get", "deployment", app, "-n", "vouchers", "-o", "jsonpath={.spec.replicas}")
			require.NoError(t, err)
			var want int
			_, err = fmt.Sscan(replicas, &want)
			require.NoError(t, err, "replicas %q", replicas)
			ps := pods(t, "vouchers", app, want)
			assert.Len(t, ps, want, "one pod per replica")
			for _, p := range ps {
				require.NotEmpty(t, p.Metadata.OwnerReferences, "pod %s", p.Metadata.Name)
				assert.Equal(t, "ReplicaSet", p.Metadata.OwnerReferences[0].Kind, "pod %s was not made by a ReplicaSet", p.Metadata.Name)
				var d *container
				for i := range p.Spec.Containers {
					if p.Spec.Containers[i].Name == "daprd" {
						d = &p.Spec.Containers[i]
					}
				}
				for i := range p.Spec.InitContainers {
					if p.Spec.InitContainers[i].Name == "daprd" {
						d = &p.Spec.InitContainers[i]
					}
				}
				if !assert.NotNil(t, d, "pod %s has no daprd: the injector did not run", p.Metadata.Name) {
					continue
				}
				ann := p.Metadata.Annotations
				assert.Equal(t, sidecarImage, d.Image)
				want := map[string]string{
					"--app-id":       ann["dapr.io/app-id"],
					"--app-port":     apps[app],
					"--app-protocol": "http",
					"--config":       ann["dapr.io/config"],
					"--log-level":    valueOr(ann["dapr.io/log-level"], "info"),
					"--metrics-port": ann["dapr.io/metrics-port"],
					"--mode":         "kubernetes",
				}
				for f, v := range want {
					got, ok := flag(d.Args, f)
					if assert.True(t, ok, "%s: daprd has no %s: %v", p.Metadata.Name, f, d.Args) {
						assert.Equal(t, v, got, "%s: daprd %s", p.Metadata.Name, f)
					}
				}
				assert.Equal(t, app, ann["dapr.io/app-id"])
				assert.Equal(t, "vouchers", ann["dapr.io/config"])
				secrets := map[string]string{}
				for _, e := range d.Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						secrets[e.Name] = e.ValueFrom.SecretKeyRef.Name
					}
				}
				assert.Equal(t, app+"-dapr-api-token", secrets["DAPR_API_TOKEN"], "%s: daprd's API token", p.Metadata.Name)
				assert.Equal(t, app+"-app-token", secrets["APP_API_TOKEN"], "%s: the app token daprd sends", p.Metadata.Name)
				for k, a := range map[string]string{
					"cpu": "dapr.io/sidecar-cpu-limit", "memory": "dapr.io/sidecar-memory-limit",
				} {
					assert.Equal(t, ann[a], d.Resources.Limits[k], "%s: daprd's %s limit", p.Metadata.Name, k)
				}
				for k, a := range map[string]string{
					"cpu": "dapr.io/sidecar-cpu-request", "memory": "dapr.io/sidecar-memory-request",
				} {
					assert.Equal(t, ann[a], d.Resources.Requests[k], "%s: daprd's %s request", p.Metadata.Name, k)
				}
			}
			if !t.Failed() {
				t.Logf("measured: %s: %d pods, each with the injected daprd as asked", app, len(ps))
			}
		})
	}
}

func valueOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// mistakes reads what is deployed in namespace and names what Dapr would
// take without a word but what cannot work: a scope naming an app no
// Deployment has (that app's sidecar would never load the resource), a
// Dapr-enabled pod the injector left without daprd (the webhook fails
// open), a sidecar resource annotation the injector dropped, a
// dapr.io/config that names no Configuration, and an app port no container
// exposes.
func mistakes(t *testing.T, namespace string) []string {
	t.Helper()
	var found []string
	var deps struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
			Spec     struct {
				Template struct {
					Metadata struct {
						Annotations map[string]string `json:"annotations"`
					} `json:"metadata"`
					Spec struct {
						Containers []container `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
	}
	getJSON(t, &deps, "get", "deployments", "-n", namespace, "-o", "json")
	appIDs := map[string]bool{}
	var configs struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
		}
	}
	getJSON(t, &configs, "get", "configurations.dapr.io", "-n", namespace, "-o", "json")
	configNames := map[string]bool{}
	for _, cfg := range configs.Items {
		configNames[cfg.Metadata.Name] = true
	}
	for _, d := range deps.Items {
		ann := d.Spec.Template.Metadata.Annotations
		if ann["dapr.io/enabled"] != "true" {
			continue
		}
		appIDs[valueOr(ann["dapr.io/app-id"], d.Metadata.Name)] = true
		if cfg := ann["dapr.io/config"]; cfg != "" && !configNames[cfg] {
			found = append(found, fmt.Sprintf("deployment %s: dapr.io/config %q names no Configuration", d.Metadata.Name, cfg))
		}
		if port := ann["dapr.io/app-port"]; port != "" {
			exposed := false
			for _, ctr := range d.Spec.Template.Spec.Containers {
				for _, p := range ctr.Ports {
					exposed = exposed || fmt.Sprint(p.ContainerPort) == port
				}
			}
			if !exposed {
				found = append(found, fmt.Sprintf("deployment %s: dapr.io/app-port %q is no container's port", d.Metadata.Name, port))
			}
		}
		for _, p := range pods(t, namespace, d.Metadata.Name, 1) {
			var daprd *container
			for _, ctr := range append(p.Spec.Containers, p.Spec.InitContainers...) {
				if ctr.Name == "daprd" {
					daprd = &ctr
				}
			}
			if daprd == nil {
				found = append(found, fmt.Sprintf("pod %s: Dapr-enabled, but the injector added no daprd", p.Metadata.Name))
				continue
			}
			// The injector logs an annotation it cannot read and goes on
			// with its defaults: the pod runs, not as asked.
			for a, got := range map[string]string{
				"dapr.io/sidecar-cpu-request": daprd.Resources.Requests["cpu"], "dapr.io/sidecar-memory-request": daprd.Resources.Requests["memory"],
				"dapr.io/sidecar-cpu-limit": daprd.Resources.Limits["cpu"], "dapr.io/sidecar-memory-limit": daprd.Resources.Limits["memory"],
			} {
				if want := p.Metadata.Annotations[a]; want != "" && want != got {
					found = append(found, fmt.Sprintf("pod %s: %s is %q, but daprd got %q", p.Metadata.Name, a, want, got))
				}
			}
		}
	}
	for _, kind := range []string{"components.dapr.io", "subscriptions.dapr.io", "httpendpoints.dapr.io", "resiliencies.dapr.io"} {
		var list struct {
			Items []struct {
				Metadata struct{ Name string } `json:"metadata"`
				Scopes   []string              `json:"scopes"`
			}
		}
		getJSON(t, &list, "get", kind, "-n", namespace, "-o", "json")
		for _, o := range list.Items {
			for _, s := range o.Scopes {
				if !appIDs[s] {
					found = append(found, fmt.Sprintf("%s %s: scope %q names no app of this namespace", kind, o.Metadata.Name, s))
				}
			}
		}
	}
	sort.Strings(found)
	return found
}

func getJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, err := c.kubectl(args...)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(out), v), "kubectl %v", args)
}

// brokenManifests holds four mistakes that every API server check lets
// through: a Component scoped to a misspelt app, an app port no container
// has, a Configuration name with a typo, and a sidecar memory limit the
// injector cannot read.
const brokenManifests = `apiVersion: apps/v1
kind: Deployment
metadata: {name: typo, labels: {app.kubernetes.io/name: typo}}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: typo}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: typo}
      annotations:
        dapr.io/enabled: "true"
        dapr.io/app-id: typo
        dapr.io/app-port: "8090"
        dapr.io/config: vouchrs
        dapr.io/sidecar-memory-limit: lots
    spec:
      containers: [{name: typo, image: "vouchers/gateway:dev", ports: [{containerPort: 8080}]}]
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: typo-store}
spec:
  type: state.postgresql
  version: v2
  metadata: [{name: connectionString, value: "host=db"}]
scopes: [gatewya]
`

// TestAManifestMistakeIsCaught: the deployed overlay has none of the
// mistakes mistakes() looks for, and a namespace holding each of them is
// caught, every one named.
func TestAManifestMistakeIsCaught(t *testing.T) {
	if _, err := c.kubectl("get", "namespace", "vouchers"); err != nil {
		applyOverlay(t, "deploy/kubernetes/overlays/production", "vouchers")
	}
	assert.Empty(t, mistakes(t, "vouchers"), "the production overlay")

	_, err := c.kubectl("create", "namespace", "mistakes")
	require.NoError(t, err)
	_, err = c.kubectlIn(brokenManifests, "apply", "-n", "mistakes", "-f", "-")
	require.NoError(t, err, "the API server takes each of these mistakes")
	got := mistakes(t, "mistakes")
	t.Logf("measured: caught %d mistakes:\n%s", len(got), strings.Join(got, "\n"))
	want := []string{
		`components.dapr.io typo-store: scope "gatewya" names no app of this namespace`,
		`deployment typo: dapr.io/app-port "8090" is no container's port`,
		`deployment typo: dapr.io/config "vouchrs" names no Configuration`,
	}
	for _, w := range want {
		assert.Contains(t, got, w)
	}
	assert.True(t, slices.ContainsFunc(got, func(s string) bool {
		return strings.Contains(s, `dapr.io/sidecar-memory-limit is "lots", but daprd got ""`)
	}), "the injector drops a memory limit it cannot read (it logs a warning and goes on), and the pod is caught: %v", got)
}
