package k8s

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/e2e/internal/journey"
)

// localApps are the Deployments of the local overlay.
var localApps = []string{"postgres", "rabbitmq", "voucher-provider", "gateway", "voucher-int", "voucher", "sms"}

// testPatches are the test's changes to the local overlay, applied
// through a kustomization of its own: the sms outbox on this machine, the
// suite's durations scaled down (as the Compose test's), and a webhook
// receiver on the node's address allowed over plain http.
func testPatches(local, outbox string) string {
	env := []struct {
		app string
		env map[string]string
	}{
		{"voucher-provider", map[string]string{
			"ACK_AFTER": "200ms", "LATE_CALLBACK_AFTER": "1500ms", "VERY_LATE_CALLBACK_AFTER": "13s", "RECOVER_AFTER": "2s",
		}},
		{"voucher-int", map[string]string{
			"PROVIDER_TIMEOUT": "1s", "LATE_AFTER": "10s", "ORDER_DEADLINE": "20s", "RECONCILE_RECHECK": "300ms",
		}},
		{"gateway", map[string]string{
			"WEBHOOK_ALLOWED_NETWORKS":         nodeIP + "/32",
			"WEBHOOK_ALLOW_HTTP":               "true",
			"WEBHOOK_RETRY_SCHEDULE":           "200ms,400ms,600ms",
			"WEBHOOK_TIMEOUT":                  "5s",
			"PHONE_CODE_COOLDOWN":              "1s",
			"REDRIVE_AFTER":                    "5s",
			"OUTBOX_RELAY_AFTER":               "2s",
			"SMS_CONFIRM_AFTER":                "4s",
			"LATE_AFTER":                       "10s",
			"TEXT_BUDGET_PER_CLIENT_PER_HOUR":  "100000",
			"TEXT_BUDGET_PER_HOUR":             "100000",
			"VOUCHER_TEXTS_PER_NUMBER_PER_DAY": "100000",
			"MAX_HASHING_PER_CLIENT":           "4",
		}},
	}
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - %s
patches:
  - target: {kind: Deployment, name: sms}
    patch: |-
      - op: replace
        path: /spec/template/spec/volumes/0
        value: {name: sms-outbox, hostPath: {path: %q, type: Directory}}
`, local, outbox)
	for _, e := range env {
		fmt.Fprintf(&b, "  - target: {kind: Deployment, name: %s}\n    patch: |-\n%s\n", e.app, envPatch(e.env))
	}
	return b.String()
}

// envPatch is JSON patch operations adding env to a Deployment's first
// container, indented for testPatches.
func envPatch(env map[string]string) string {
	var b strings.Builder
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(&b, "      - op: add\n        path: /spec/template/spec/containers/0/env/-\n        value: {name: %s, value: %q}\n", k, env[k])
	}
	return strings.TrimRight(b.String(), "\n")
}

// removeAppNamespaces deletes what the earlier tests applied (pods that
// were never to run), so that the node runs only the local overlay.
func removeAppNamespaces(t *testing.T) {
	out, err := c.kubectl("get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}")
	require.NoError(t, err)
	for _, ns := range strings.Fields(out) {
		if strings.HasPrefix(ns, "kube-") || ns == "default" || ns == "dapr-system" {
			continue
		}
		_, err := c.kubectl("delete", "namespace", ns, "--wait=true", "--timeout=110s")
		require.NoError(t, err)
	}
}

// lookupIn asks the cluster's DNS for name.
func lookupIn(name string) ([]string, error) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, clusterDNS+":53")
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return r.LookupHost(ctx, name)
}

// deployment is the local overlay running on the node.
type deployment struct {
	node    *node
	gateway string            // http://<gateway's ClusterIP>
	tokens  map[string]string // Secret name → token
}

// deployLocal applies the local overlay with the test's patches, and its
// Secrets from secrets.sh, and waits until every Deployment is Available.
func deployLocal(t *testing.T, n *node) *deployment {
	started := time.Now()
	out, err := exec.Command(filepath.Join(repoRoot, "deploy", "kubernetes", "overlays", "local", "secrets.sh")).Output()
	require.NoError(t, err, "secrets.sh")
	secrets := string(out)
	_, err = c.kubectl("create", "namespace", "vouchers")
	require.NoError(t, err)
	_, err = c.kubectlIn(secrets, "apply", "-n", "vouchers", "-f", "-")
	require.NoError(t, err)
	dir := t.TempDir()
	// Kustomize takes a base by a relative path only.
	local, err := filepath.Rel(dir, filepath.Join(repoRoot, "deploy", "kubernetes", "overlays", "local"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(testPatches(local, n.outbox)), 0o644))
	_, err = c.kubectl("apply", "--server-side", "--field-manager=vouchers-test", "-k", dir)
	require.NoError(t, err)
	if os.Getenv("K8S_HOLD") != "" {
		// For a person to look around: the cluster stays up for an hour.
		t.Logf("holding: kubectl --kubeconfig=%s -n vouchers", c.kubeconfig)
		time.Sleep(time.Hour)
	}
	for _, app := range localApps {
		_, err := c.kubectl("rollout", "status", "deployment/"+app, "-n", "vouchers", "--timeout=110s")
		if err != nil {
			describe, _ := c.kubectl("describe", "pods", "-n", "vouchers", "-l", "app.kubernetes.io/name="+app)
			logs, _ := c.kubectl("logs", "-n", "vouchers", "-l", "app.kubernetes.io/name="+app, "--all-containers", "--tail=30", "--prefix")
			previous, _ := c.kubectl("logs", "-n", "vouchers", "-l", "app.kubernetes.io/name="+app, "--all-containers", "--tail=30", "--prefix", "--previous")
			t.Fatalf("%s did not become available: %v\n%s\n%s\n%s", app, err, describe, logs, previous)
		}
	}
	t.Logf("measured: the local overlay's %d Deployments available %.1f s after kubectl apply", len(localApps), time.Since(started).Seconds())
	ip, err := c.kubectl("get", "service", "gateway", "-n", "vouchers", "-o", "jsonpath={.spec.clusterIP}")
	require.NoError(t, err)
	return &deployment{node: n, gateway: "http://" + ip, tokens: tokensIn(secrets)}
}

// tokensIn reads the tokens out of secrets.sh's YAML.
func tokensIn(yaml string) map[string]string {
	got := map[string]string{}
	name := ""
	for _, line := range strings.Split(yaml, "\n") {
		if v, ok := strings.CutPrefix(line, "metadata: {name: "); ok {
			name = strings.TrimSuffix(v, "}")
		}
		if v, ok := strings.CutPrefix(line, "  token: "); ok {
			got[name] = strings.Trim(v, `"`)
		}
	}
	return got
}

// TestPodsRun runs the system's pods on a node of this cluster: the local
// overlay (deploy/kubernetes/overlays/local) with Dapr's injector adding
// daprd to each, the customer's requests through gateway's Service.
func TestPodsRun(t *testing.T) {
	if missing := missingNodeTools(); len(missing) > 0 {
		msg := "no node can run here without " + strings.Join(missing, ", ") + " (make test-k8s builds and installs them)"
		if os.Getenv("K8S_TEST_REQUIRED") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	removeAppNamespaces(t)
	started := time.Now()
	n, err := c.startNode()
	if n != nil {
		t.Cleanup(func() {
			// The kubelet stops the pods as a cluster would; what it
			// leaves is removed below, after the processes stop.
			_, _ = c.kubectl("delete", "namespace", "vouchers", "--wait=true", "--timeout=60s")
			n.stopPods()
		})
	}
	require.NoError(t, err)
	t.Logf("measured: the node (containerd, kubelet, kube-proxy, scheduler, CoreDNS) Ready in %.1f s", time.Since(started).Seconds())
	require.NoError(t, waitFor("the cluster's DNS", time.Minute, func() error {
		_, err := lookupIn("kubernetes.default.svc.cluster.local")
		return err
	}))
	d := deployLocal(t, n)
	assert.Empty(t, mistakes(t, "vouchers"), "the local overlay, as it runs")
	hooks := newReceiver(t)
	sys := d.system(t, hooks)
	var first *journey.Customer
	ok := t.Run("journey_through_the_gateway_service", func(t *testing.T) {
		first = journey.Walk(t, sys, "k8s", fmt.Sprintf("%s/hooks/%d", hooks.url, time.Now().UnixNano()))
	})
	ok = ok && t.Run("late_success_by_sms", func(t *testing.T) { journey.LateSuccess(t, sys) })
	ok = ok && t.Run("forged_calls_from_the_pod_network", func(t *testing.T) { forged(t, first) })
	_ = ok && t.Run("voucher_int_pods_deleted_during_a_burst_lose_nothing", func(t *testing.T) {
		deletePodsDuringBurst(t, sys, "voucher-int")
	})
}

// system is the deployment as the journey sees it: gateway through its
// Service, the texts in the outbox on this machine, the provider fake's
// orders through its Service.
func (d *deployment) system(t *testing.T, hooks *receiver) *journey.System {
	ip, err := c.kubectl("get", "service", "voucher-provider", "-n", "vouchers", "-o", "jsonpath={.spec.clusterIP}")
	require.NoError(t, err)
	provider := "http://" + ip + ":8081"
	token := d.tokens["voucher-provider-app-token"]
	require.NotEmpty(t, token)
	return &journey.System{
		Gateway: d.gateway,
		Texts: func() (map[string]string, error) {
			entries, err := os.ReadDir(d.node.outbox)
			if err != nil {
				return nil, err
			}
			texts := map[string]string{}
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join(d.node.outbox, e.Name()))
				if err != nil {
					return nil, err
				}
				texts[e.Name()] = string(b)
			}
			return texts, nil
		},
		Received:       hooks.received,
		ProviderOrders: func() (map[string]int, error) { return journey.ProviderOrders(provider, token) },
	}
}

// deletePodsDuringBurst deletes every pod of app (kubectl delete pod, as
// an operator or a node drain would) during a burst of purchases; the
// Deployment makes new ones, and nothing is lost or bought twice.
func deletePodsDuringBurst(t *testing.T, sys *journey.System, app string) {
	selector := "app.kubernetes.io/name=" + app
	before, err := c.kubectl("get", "pods", "-n", "vouchers", "-l", selector, "-o", "jsonpath={.items[*].metadata.name}")
	require.NoError(t, err)
	old := strings.Fields(before)
	require.NotEmpty(t, old)
	var deleted time.Time
	crash := func() {
		deleted = time.Now()
		_, err := c.kubectl(append([]string{"delete", "pod", "-n", "vouchers", "--wait=false"}, old...)...)
		require.NoError(t, err)
	}
	recovered := func() {
		_, err := c.kubectl("rollout", "status", "deployment/"+app, "-n", "vouchers", "--timeout=110s")
		require.NoError(t, err)
		require.NoError(t, waitFor(app+"'s old pods to go", 2*time.Minute, func() error {
			out, err := c.kubectl("get", "pods", "-n", "vouchers", "-l", selector, "-o", "jsonpath={.items[*].metadata.name}")
			if err != nil {
				return err
			}
			for _, p := range strings.Fields(out) {
				if slices.Contains(old, p) {
					return fmt.Errorf("%s still there", p)
				}
			}
			return nil
		}))
		t.Logf("measured: %d %s pods deleted; their replacements ready and the old ones gone %.1f s later", len(old), app, time.Since(deleted).Seconds())
	}
	journey.CrashDuringBurst(t, sys, 50, crash, recovered)
}

// receiver is the customers' webhook receiver, on the node's address,
// which gateway's pods reach over the bridge.
type receiver struct {
	url string
	mu  sync.Mutex
	got []journey.Delivery
}

func newReceiver(t *testing.T) *receiver {
	l, err := net.Listen("tcp", nodeIP+":0")
	require.NoError(t, err)
	r := &receiver{url: "http://" + l.Addr().String()}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, journey.Delivery{Path: req.URL.Path, Header: req.Header.Clone(), Body: string(b), At: time.Now()})
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

func (r *receiver) received() ([]journey.Delivery, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got), nil
}

// forged: from the pod network (the node's address, where any pod could
// be), every app port refuses what has no app token, daprd's API listens
// on its pod's loopback only, the provider fake's controls need its
// token, and gateway's public port has none of the internal routes. The
// victim's purchase is unchanged afterwards. No NetworkPolicy is enforced
// on this node: this is what holds without one.
func forged(t *testing.T, victim *journey.Customer) {
	victim.T = t // its journey's subtest has ended
	before := victim.Vouchers()
	require.Len(t, before, 1)
	type call struct{ name, method, url, token string }
	var calls []call
	refused := map[string]bool{}
	for _, app := range []struct{ name, port, method, path string }{
		{"gateway", "8090", "POST", "/events/receive-code"},
		{"gateway", "8090", "POST", "/webhook-sweep"},
		// The operator's tools take the operator's token.
		{"gateway", "8090", "GET", "/ops/dead-letters"},
		{"voucher-int", "8082", "POST", "/events/request-code"},
		{"voucher", "8083", "POST", "/events/receive-code"},
		{"sms", "8084", "POST", "/events/send-sms"},
	} {
		ips, err := c.kubectl("get", "pods", "-n", "vouchers", "-l", "app.kubernetes.io/name="+app.name, "-o", "jsonpath={.items[*].status.podIP}")
		require.NoError(t, err)
		for _, ip := range strings.Fields(ips) {
			for _, token := range []string{"", "wrong-token-wrong-token-wrong-token"} {
				calls = append(calls, call{fmt.Sprintf("%s %s app port %s token %q", app.name, ip, app.path, token), app.method, "http://" + ip + ":" + app.port + app.path, token})
			}
			name := fmt.Sprintf("%s %s daprd API", app.name, ip)
			calls = append(calls, call{name, "POST", "http://" + ip + ":3500/v1.0/publish/pubsub/receive-code", ""})
			refused[name] = true
		}
	}
	provider, err := c.kubectl("get", "service", "voucher-provider", "-n", "vouchers", "-o", "jsonpath={.spec.clusterIP}")
	require.NoError(t, err)
	for _, token := range []string{"", "wrong-token-wrong-token-wrong-token"} {
		calls = append(calls, call{fmt.Sprintf("provider orders token %q", token), "GET", "http://" + provider + ":8081/api/orders", token})
		calls = append(calls, call{fmt.Sprintf("provider outage token %q", token), "POST", "http://" + provider + ":8081/api/admin/outage", token})
	}
	gateway, err := c.kubectl("get", "service", "gateway", "-n", "vouchers", "-o", "jsonpath={.spec.clusterIP}")
	require.NoError(t, err)
	for _, path := range []string{"/events/receive-code", "/webhook-sweep", "/outbox-relay", "/ops/dead-letters", "/dapr/subscribe"} {
		calls = append(calls, call{"gateway public " + path, "POST", "http://" + gateway + path, ""})
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, cl := range calls {
		var body io.Reader
		if cl.method == "POST" {
			body = strings.NewReader(`{"mode":"error","seconds":60}`)
		}
		req, err := http.NewRequest(cl.method, cl.url, body)
		require.NoError(t, err)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if cl.token != "" {
			req.Header.Set("dapr-api-token", cl.token)
		}
		resp, err := hc.Do(req)
		if refused[cl.name] {
			if assert.Error(t, err, "%s: answered", cl.name) {
				assert.Contains(t, err.Error(), "connection refused", cl.name)
			} else {
				resp.Body.Close()
			}
			continue
		}
		if !assert.NoError(t, err, cl.name) {
			continue
		}
		resp.Body.Close()
		if strings.HasPrefix(cl.name, "gateway public") {
			assert.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, resp.StatusCode, cl.name)
		} else {
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, cl.name)
		}
	}
	t.Logf("measured: %d forged calls from the pod network, every one refused", len(calls))
	assert.Equal(t, before, victim.Vouchers(), "the victim's vouchers changed")
	for _, id := range victim.Requests {
		var v journey.RequestView
		victim.Do("GET", "/voucher/requests/"+id, nil).Decode(t, &v)
		assert.Equal(t, "SUCCESS", v.Status, "request %s", id)
	}
}
