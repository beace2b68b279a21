// Package k8s applies deploy/kubernetes to a real control plane on this
// machine: etcd, kube-apiserver and kube-controller-manager, and Dapr
// 1.18.3's sentry, operator and sidecar injector, the injector registered
// as a MutatingWebhookConfiguration served over TLS; then a node of that
// cluster runs the local overlay's pods (pods_test.go). Every binary is
// built from source with the Go module proxy (make k8s-tools, make
// dapr-control-plane). `make test-k8s` runs it.
package k8s

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bankabc/vouchers/e2e/internal/repo"
	"github.com/bankabc/vouchers/tools/runner"
)

// repoRoot is the folder holding go.work.
var repoRoot = repo.Root()

// cluster is the control plane the test started.
type cluster struct {
	pki        *pki
	dir        string
	kubeconfig string
	apiserver  string // https://127.0.0.1:port
	log        *os.File

	mu    sync.Mutex
	procs []*proc
}

// proc is a process of the control plane; done closes when it exits.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func bin(name string) string { return filepath.Join(repoRoot, ".bin", "k8s", name) }

func freePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		p, err := runner.FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	return ports, nil
}

// start runs a process of the control plane, its output in the cluster's
// log, prefixed with its name.
func (c *cluster) start(name string, env []string, path string, args ...string) error {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	w := &prefixWriter{prefix: name + " | ", w: c.log}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return nil
}

// exited names a process that has ended, which none should while the
// test runs: waiting on it further would only run out the clock.
func (c *cluster) exited() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v (its last lines are in the log)", p.name, p.err)
		default:
		}
	}
	return nil
}

// stop ends every process, the last started first.
func (c *cluster) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	c.procs = nil
	cleanupNode(c.dir)
}

type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	w      *os.File
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// pki is the cluster's certificates and keys, written into dir.
type pki struct {
	caCert, caKey       string
	serverCert, servKey string
	adminCert, adminKey string
	saKey, saPub        string
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func makePKI(dir string) (*pki, error) {
	p := &pki{
		caCert: filepath.Join(dir, "ca.crt"), caKey: filepath.Join(dir, "ca.key"),
		serverCert: filepath.Join(dir, "apiserver.crt"), servKey: filepath.Join(dir, "apiserver.key"),
		adminCert: filepath.Join(dir, "admin.crt"), adminKey: filepath.Join(dir, "admin.key"),
		saKey: filepath.Join(dir, "sa.key"), saPub: filepath.Join(dir, "sa.pub"),
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vouchers-test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	if err := writePEM(p.caCert, "CERTIFICATE", caDER); err != nil {
		return nil, err
	}
	issue := func(certPath, keyPath string, tmpl *x509.Certificate) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
			return err
		}
		return writePEM(keyPath, "EC PRIVATE KEY", kder)
	}
	if err := issue(p.serverCert, p.servKey, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1"), net.ParseIP(nodeIP)},
	}); err != nil {
		return nil, err
	}
	if err := issue(p.adminCert, p.adminKey, &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if err := writePEM(p.saKey, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := writePEM(p.saPub, "PUBLIC KEY", pub); err != nil {
		return nil, err
	}
	return p, nil
}

// startCluster starts etcd, kube-apiserver and kube-controller-manager,
// and waits until the API server is ready and the controllers have made
// the default namespace's service account.
func startCluster(dir string, log *os.File) (*cluster, error) {
	c := &cluster{dir: dir, log: log}
	// Dapr's control plane runs as a user of its own, which must reach
	// the files made for it in here.
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	p, err := makePKI(dir)
	if err != nil {
		return nil, err
	}
	c.pki = p
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdClient, etcdPeer, api := ports[0], ports[1], ports[2]
	// The API server advertises the node's address, which the pods reach
	// it at through the kubernetes Service.
	if err := makeBridge(); err != nil {
		return nil, err
	}
	if err := c.start("etcd", nil, bin("etcd"),
		"--name=default", "--data-dir="+filepath.Join(dir, "etcd"),
		fmt.Sprintf("--listen-client-urls=http://127.0.0.1:%d", etcdClient),
		fmt.Sprintf("--advertise-client-urls=http://127.0.0.1:%d", etcdClient),
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", etcdPeer),
		fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", etcdPeer),
		fmt.Sprintf("--initial-cluster=default=http://127.0.0.1:%d", etcdPeer),
		"--log-level=warn",
	); err != nil {
		return nil, err
	}
	c.apiserver = fmt.Sprintf("https://127.0.0.1:%d", api)
	// The injector's certificate from Sentry names the injector's Service
	// (dapr-sidecar-injector.dapr-system.svc), and the webhook must call
	// that name. The API server resolves it to this machine through an
	// /etc/hosts of its own, bound over the real one in a mount namespace
	// of its own: the machine's file is not touched.
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		return nil, err
	}
	hostsFile := filepath.Join(dir, "hosts")
	hosts = append(hosts, []byte("\n127.0.0.1 "+injectorHost+"\n")...)
	if err := os.WriteFile(hostsFile, hosts, 0o644); err != nil {
		return nil, err
	}
	if err := c.start("kube-apiserver", nil, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", `mount --bind "$1" /etc/hosts && shift && exec "$@"`, "sh", hostsFile, bin("kube-apiserver"),
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdClient),
		"--bind-address=0.0.0.0", fmt.Sprintf("--secure-port=%d", api), "--advertise-address="+nodeIP,
		"--tls-cert-file="+p.serverCert, "--tls-private-key-file="+p.servKey, "--client-ca-file="+p.caCert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p.saPub, "--service-account-signing-key-file="+p.saKey,
		"--authorization-mode=RBAC", "--service-cluster-ip-range="+serviceCIDR,
		// kubectl logs and exec reach the kubelet as the admin.
		"--kubelet-client-certificate="+p.adminCert, "--kubelet-client-key="+p.adminKey,
		"--kubelet-preferred-address-types=InternalIP",
		"--cert-dir="+filepath.Join(dir, "apiserver-certs"),
		"--v=1",
	); err != nil {
		return nil, err
	}
	c.kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, certificate-authority: %q}
users:
- name: admin
  user: {client-certificate: %q, client-key: %q}
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, c.apiserver, p.caCert, p.adminCert, p.adminKey)
	if err := os.WriteFile(c.kubeconfig, []byte(kc), 0o600); err != nil {
		return nil, err
	}
	if err := c.waitReady(p, 3*time.Minute); err != nil {
		return c, err
	}
	if err := c.start("kube-controller-manager", nil, bin("kube-controller-manager"),
		"--kubeconfig="+c.kubeconfig,
		"--authentication-kubeconfig="+c.kubeconfig, "--authorization-kubeconfig="+c.kubeconfig,
		// Each controller acts as its own service account: Dapr's injector
		// admits pods only from the controllers' accounts.
		"--use-service-account-credentials",
		"--service-account-private-key-file="+p.saKey, "--root-ca-file="+p.caCert,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
		"--v=1",
	); err != nil {
		return c, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := c.kubectl("get", "serviceaccount", "default", "-n", "default"); err == nil {
			return c, nil
		}
		if err := c.exited(); err != nil {
			return c, err
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("kube-controller-manager made no default service account in 2 minutes")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (c *cluster) waitReady(p *pki, within time.Duration) error {
	cert, err := tls.LoadX509KeyPair(p.adminCert, p.adminKey)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(p.caCert)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}}}
	deadline := time.Now().Add(within)
	for {
		resp, err := hc.Get(c.apiserver + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := c.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver not ready in %s (last: %v)", within, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// kubeconfigFor writes an admin kubeconfig with the certificates inside,
// owned by uid.
func (c *cluster) kubeconfigFor(uid int) (string, error) {
	data := map[string]string{}
	for k, f := range map[string]string{"ca": c.pki.caCert, "cert": c.pki.adminCert, "key": c.pki.adminKey} {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		data[k] = base64.StdEncoding.EncodeToString(b)
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, certificate-authority-data: %s}
users:
- name: admin
  user: {client-certificate-data: %s, client-key-data: %s}
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, c.apiserver, data["ca"], data["cert"], data["key"])
	path := filepath.Join(c.dir, fmt.Sprintf("kubeconfig-%d", uid))
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		return "", err
	}
	return path, os.Chown(path, uid, uid)
}

// kubectl runs kubectl against the cluster as its admin.
func (c *cluster) kubectl(args ...string) (string, error) {
	return c.kubectlIn("", args...)
}

// kubectlIn is kubectl with stdin.
func (c *cluster) kubectlIn(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin("kubectl"), append([]string{"--kubeconfig=" + c.kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}
