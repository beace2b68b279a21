package k8s

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// daprBin is a binary of Dapr's control plane, built by make
// dapr-control-plane from the same dapr module as daprd.
func daprBin(name string) string { return filepath.Join(repoRoot, ".bin", "dapr", name) }

// daprCRDs is the folder of Dapr's CRDs in the dapr module the control
// plane is built from (the module cache).
func daprCRDs() (string, error) {
	out, err := exec.Command(goCmd(), "mod", "download", "-json", "github.com/dapr/dapr@v"+daprVersion).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download github.com/dapr/dapr: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), `"Dir": "`); ok {
			return filepath.Join(strings.TrimSuffix(v, `",`), "charts", "dapr", "crds"), nil
		}
	}
	return "", fmt.Errorf("go mod download named no folder for github.com/dapr/dapr")
}

// daprVersion is the Makefile's DAPR_VERSION (make test-k8s passes it).
var daprVersion = func() string {
	if v := os.Getenv("DAPR_VERSION"); v != "" {
		return v
	}
	return "1.18.3"
}()

func goCmd() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// sidecarImage is the daprd image the injector puts in every pod: the one
// make compose-images builds, loaded into the node (nothing pulls it).
var sidecarImage = "vouchers/daprd:" + daprVersion

// tokenMount is where Dapr's injector and operator read the token they
// present to Sentry (a constant in Dapr's source, the projected volume of
// their pods). Each runs in a mount namespace of its own, with its token
// bound over this path.
const tokenMount = "/var/run/secrets/dapr.io/sentrytoken"

// controlPlaneFmt is Dapr's namespace as its Helm chart makes it, less the
// Deployments: service accounts, the trust bundle Sentry fills in, the
// daprsystem Configuration, and one Pod object for each of the injector
// and the operator. Those Pods never run (no node matches their selector);
// Sentry checks that the token presented to it is bound to a Pod with the
// control-plane annotation, so each process here runs under its Pod's
// identity.
var controlPlaneFmt = `apiVersion: v1
kind: Namespace
metadata: {name: dapr-system}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: dapr-sentry, namespace: dapr-system}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: dapr-injector, namespace: dapr-system}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: dapr-operator, namespace: dapr-system}
---
apiVersion: v1
kind: Secret
metadata: {name: dapr-trust-bundle, namespace: dapr-system}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: dapr-trust-bundle, namespace: dapr-system}
---
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: daprsystem, namespace: dapr-system}
spec:
  mtls:
    enabled: true
    workloadCertTTL: 24h
    allowedClockSkew: 15m
    controlPlaneTrustDomain: cluster.local
    # The operator reads Sentry's address here; Sentry listens on this
    # machine, not behind its Service.
    sentryAddress: 127.0.0.1:%d
---
apiVersion: v1
kind: Pod
metadata:
  name: dapr-sidecar-injector-0
  namespace: dapr-system
  annotations: {dapr.io/control-plane: injector}
spec:
  serviceAccountName: dapr-injector
  # Never scheduled: the process runs on this machine, not in this pod.
  nodeSelector: {vouchers.test/never: "true"}
  containers: [{name: dapr-sidecar-injector, image: "daprio/dapr:` + daprVersion + `"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: dapr-operator-0
  namespace: dapr-system
  annotations: {dapr.io/control-plane: operator}
spec:
  serviceAccountName: dapr-operator
  # Never scheduled: the process runs on this machine, not in this pod.
  nodeSelector: {vouchers.test/never: "true"}
  containers: [{name: dapr-operator, image: "daprio/dapr:` + daprVersion + `"}]
`

// injectorHost is the name in the injector's certificate from Sentry.
const injectorHost = "dapr-sidecar-injector.dapr-system.svc"

// webhook registers the injector as the chart does, but by URL: the
// injector listens on this machine, not behind a Service. Its caBundle is
// Sentry's trust anchors, which the injector patches in itself.
func webhook(port int) string {
	return fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: dapr-sidecar-injector}
webhooks:
- name: sidecar-injector.dapr.io
  clientConfig:
    url: https://%s:%d/mutate
    caBundle: %s
  rules:
  - apiGroups: [""]
    apiVersions: [v1]
    resources: [pods]
    operations: [CREATE]
  # As Dapr's chart: a pod the injector cannot answer for is stored
  # without daprd (mistakes() below looks for such pods).
  failurePolicy: Ignore
  sideEffects: None
  admissionReviewVersions: [v1, v1beta1]
  # The most the API allows: a loaded machine must not fail open.
  timeoutSeconds: 30
  objectSelector:
    matchExpressions:
    - {key: dapr.io/sidecar-injector, operator: NotIn, values: ["false"]}
`, injectorHost, port, base64.StdEncoding.EncodeToString([]byte("placeholder")))
}

// startDapr installs Dapr's CRDs and namespace, then starts Sentry, the
// operator and the injector, and waits until the injector has patched its
// webhook's caBundle with Sentry's trust anchors (it does once it holds a
// certificate from Sentry).
func (c *cluster) startDapr() error {
	crds, err := daprCRDs()
	if err != nil {
		return err
	}
	if _, err := c.kubectl("apply", "--server-side", "-f", crds); err != nil {
		return err
	}
	if _, err := c.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"); err != nil {
		return err
	}
	ports, err := freePorts(7)
	if err != nil {
		return err
	}
	sentryPort, sentryHealth, injPort, injHealth, opPort, opHealth, opWebhook := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6]
	if _, err := c.kubectlIn(fmt.Sprintf(controlPlaneFmt, sentryPort), "apply", "-f", "-"); err != nil {
		return err
	}
	if _, err := c.kubectlIn(webhook(injPort), "apply", "-f", "-"); err != nil {
		return err
	}
	ns := "NAMESPACE=dapr-system"
	kubeconfig, err := c.kubeconfigFor(controlPlaneUID)
	if err != nil {
		return err
	}
	if err := mkdirOwned(filepath.Join(c.dir, "sentry")); err != nil {
		return err
	}
	if err := c.start("sentry", []string{ns}, "setpriv", asControlPlane(daprBin("sentry"),
		"--mode=kubernetes", "--kubeconfig="+kubeconfig,
		fmt.Sprintf("--port=%d", sentryPort), "--listen-address=0.0.0.0",
		fmt.Sprintf("--healthz-port=%d", sentryHealth), "--healthz-listen-address=127.0.0.1",
		"--issuer-credentials="+filepath.Join(c.dir, "sentry"), "--trust-domain=cluster.local",
		"--enable-metrics=false", "--log-level=info",
	)...); err != nil {
		return err
	}
	anchors := filepath.Join(c.dir, "trust-anchors.pem")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := c.kubectl("get", "configmap", "dapr-trust-bundle", "-n", "dapr-system", "-o", `jsonpath={.data.ca\.crt}`)
		if err == nil && strings.Contains(out, "BEGIN CERTIFICATE") {
			if err := os.WriteFile(anchors, []byte(out), 0o644); err != nil {
				return err
			}
			break
		}
		if err := c.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sentry filled in no trust bundle in 2 minutes")
		}
		time.Sleep(500 * time.Millisecond)
	}
	common := []string{ns,
		"DAPR_TRUST_ANCHORS_FILE=" + anchors,
		"DAPR_CONTROL_PLANE_TRUST_DOMAIN=cluster.local",
		fmt.Sprintf("DAPR_SENTRY_ADDRESS=127.0.0.1:%d", sentryPort),
	}
	if err := c.startAs("dapr-sidecar-injector-0", "dapr-injector", "injector",
		append(common, "SIDECAR_IMAGE="+sidecarImage, "KUBE_CLUSTER_DOMAIN=cluster.local",
			// The node holds the image and nothing can pull it; no app
			// here has actors, and no placement service runs.
			"SIDECAR_IMAGE_PULL_POLICY=IfNotPresent", "ACTORS_ENABLED=false"),
		daprBin("injector"),
		"--kubeconfig="+kubeconfig, fmt.Sprintf("--port=%d", injPort), "--listen-address=127.0.0.1",
		fmt.Sprintf("--healthz-port=%d", injHealth), "--healthz-listen-address=127.0.0.1",
		"--scheduler-enabled=false", "--enable-metrics=false", "--log-level=info",
	); err != nil {
		return err
	}
	if err := c.startAs("dapr-operator-0", "dapr-operator", "operator", common,
		daprBin("operator"),
		"--kubeconfig="+kubeconfig, fmt.Sprintf("--port=%d", opPort), "--listen-address=0.0.0.0",
		fmt.Sprintf("--healthz-port=%d", opHealth), "--healthz-listen-address=127.0.0.1",
		fmt.Sprintf("--webhook-server-port=%d", opWebhook), "--webhook-server-listen-address=127.0.0.1",
		"--trust-anchors-file="+anchors, "--disable-leader-election",
		"--enable-metrics=false", "--log-level=info",
	); err != nil {
		return err
	}
	// The sidecars find Sentry and the operator's API by their Services'
	// names, as on any cluster; here the Services lead to this machine.
	if _, err := c.kubectlIn(controlPlaneServices(sentryPort, opPort), "apply", "-f", "-"); err != nil {
		return err
	}
	// Each answers its healthz once it holds its certificate from Sentry
	// and (the operator) its caches are in sync.
	for name, port := range map[string]int{"sentry": sentryHealth, "injector": injHealth, "operator": opHealth} {
		if err := c.waitHealthy(name, fmt.Sprintf("http://127.0.0.1:%d/healthz", port)); err != nil {
			return err
		}
	}
	deadline = time.Now().Add(2 * time.Minute)
	for {
		out, err := c.kubectl("get", "mutatingwebhookconfiguration", "dapr-sidecar-injector", "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}")
		if err == nil {
			if b, _ := base64.StdEncoding.DecodeString(out); strings.Contains(string(b), "BEGIN CERTIFICATE") {
				return nil
			}
		}
		if err := c.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the injector did not patch its webhook's caBundle in 2 minutes (no certificate from Sentry?)")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (c *cluster) waitHealthy(name, url string) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
		}
		if err := c.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy in 2 minutes (%s)", name, url)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// controlPlaneServices are Sentry's and the operator's Services as Dapr's
// chart names them, without selectors: their endpoints are the node's
// address and the ports the processes listen on.
func controlPlaneServices(sentryPort, apiPort int) string {
	var b strings.Builder
	for _, s := range []struct {
		name string
		port int
	}{{"dapr-sentry", sentryPort}, {"dapr-api", apiPort}} {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: dapr-system}
spec:
  ports: [{name: grpc, port: 443, targetPort: %[2]d}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[1]s-node
  namespace: dapr-system
  labels: {kubernetes.io/service-name: %[1]s}
addressType: IPv4
ports: [{name: grpc, port: %[2]d, protocol: TCP}]
endpoints: [{addresses: [%[3]q], conditions: {ready: true}}]
`, s.name, s.port, nodeIP)
	}
	return b.String()
}

// startAs starts a control-plane process with a token bound to pod (in
// dapr-system, service account sa), as its Pod's projected volume would
// hold it: a mount namespace of its own (unshare) binds a folder with the
// token over tokenMount.
func (c *cluster) startAs(pod, sa, name string, env []string, path string, args ...string) error {
	token, err := c.kubectl("create", "token", sa, "-n", "dapr-system",
		"--audience=dapr.io/sentry", "--bound-object-kind=Pod", "--bound-object-name="+pod, "--duration=2h")
	if err != nil {
		return err
	}
	dir := filepath.Join(c.dir, "tokens", name)
	if err := os.MkdirAll(filepath.Dir(dir), 0o711); err != nil {
		return err
	}
	if err := mkdirOwned(dir); err != nil {
		return err
	}
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte(strings.TrimSpace(token)), 0o600); err != nil {
		return err
	}
	if err := os.Chown(file, controlPlaneUID, controlPlaneUID); err != nil {
		return err
	}
	// A tmpfs over /run (where /var/run points) in the process's own
	// mount namespace gives the path a place without making it on the
	// machine; Dapr's control plane needs nothing else of /run.
	script := `mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p ` + tokenMount +
		` && mount --bind "$1" ` + tokenMount + ` && shift && exec "$@"`
	return c.start(name, env, "unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", dir, "setpriv"}, asControlPlane(path, args...)...)...)
}

// controlPlaneUID is the user Dapr's control plane runs as, as in its
// chart's pods: Dapr refuses root in Kubernetes mode.
const controlPlaneUID = 65532

// asControlPlane is setpriv's arguments to run path as that user. The
// parent-death signal the test set is cleared by the change of user, so
// setpriv sets it again: the process dies with the test, whatever ends it.
func asControlPlane(path string, args ...string) []string {
	uid := fmt.Sprint(controlPlaneUID)
	return append([]string{"--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--pdeathsig=KILL", path}, args...)
}

func mkdirOwned(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chown(dir, controlPlaneUID, controlPlaneUID)
}
