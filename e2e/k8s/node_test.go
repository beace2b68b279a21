package k8s

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The node's network: a bridge of its own that the pods hang off (the
// CNI bridge plugin takes it as it finds it), its address the node's, and
// the Service range routed through it, so that nothing depends on how
// this machine's own network looks.
const (
	nodeName    = "vouchers-node"
	bridgeName  = "vouchers0"
	nodeIP      = "10.244.0.1"
	podCIDR     = "10.244.0.0/24"
	clusterCIDR = "10.244.0.0/16"
	serviceCIDR = "10.96.0.0/16"
	clusterDNS  = nodeIP
)

// makeBridge gives the node its address before the API server advertises
// it. What a killed earlier run left goes first: its pods would answer on
// the addresses this run's get.
func makeBridge() error {
	cleanupLeftovers()
	if err := exec.Command("ip", "link", "show", bridgeName).Run(); err != nil {
		if out, err := exec.Command("ip", "link", "add", bridgeName, "type", "bridge").CombinedOutput(); err != nil {
			return fmt.Errorf("ip link add %s: %v: %s", bridgeName, err, out)
		}
	}
	for _, args := range [][]string{
		{"addr", "replace", nodeIP + "/24", "dev", bridgeName},
		{"link", "set", bridgeName, "up"},
		{"route", "replace", serviceCIDR, "dev", bridgeName, "src", nodeIP},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func removeBridge() {
	_ = exec.Command("ip", "link", "del", bridgeName).Run()
}

// nodeTools are what the node needs from this machine: Debian's
// containerd, runc and CNI plugins, and Docker to hand our images over.
// The firewall plugin lets the pods' traffic through the FORWARD chain,
// whose policy Docker sets to DROP.
var nodeTools = []string{"/usr/bin/containerd", "/usr/sbin/runc", "/usr/bin/ctr", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "/usr/lib/cni/portmap", "/usr/lib/cni/firewall", "iptables", "docker"}

// nodeImages are the images the pods run, built by make compose-images
// and loaded into the node's containerd: nothing is pulled.
var nodeImages = []string{
	"vouchers/gateway:dev", "vouchers/voucher-int:dev", "vouchers/voucher:dev", "vouchers/sms:dev",
	"vouchers/voucher-provider:dev", "vouchers/pod:dev", sidecarImage,
	"vouchers/postgres:15", "vouchers/rabbitmq:3.10",
}

// missingNodeTools names what the node cannot start without.
func missingNodeTools() []string {
	var missing []string
	for _, t := range nodeTools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	for _, b := range []string{bin("kubelet"), bin("kube-proxy"), bin("kube-scheduler"), bin("coredns")} {
		if _, err := os.Stat(b); err != nil {
			missing = append(missing, b)
		}
	}
	for _, img := range nodeImages {
		if exec.Command("docker", "image", "inspect", img).Run() != nil {
			missing = append(missing, "image "+img)
		}
	}
	return missing
}

// node is the cluster's one worker: containerd with its CRI plugin,
// kubelet, kube-proxy and the scheduler, and CoreDNS as the cluster's DNS.
type node struct {
	c   *cluster
	dir string
	// outbox is the sms pods' text folder on this machine.
	outbox string
}

// runcWrapper lowers no process's OOM score: the kubelet gives pod
// sandboxes -998, and lowering a score needs CAP_SYS_RESOURCE, which this
// machine's root lacks (runc fails with "can't get final child's PID from
// pipe"). The wrapper raises a negative score to 0 in the bundle's
// config.json, then runs Debian's runc. docs/deploy.md has the error.
const runcWrapper = `#!/bin/sh
prev=
for a in "$@"; do
  case "$prev" in
    --bundle|-b) [ -f "$a/config.json" ] && sed -i 's/"oomScoreAdj":-[0-9]*/"oomScoreAdj":0/' "$a/config.json" ;;
    --process|-p) [ -f "$a" ] && sed -i 's/"oomScoreAdj":-[0-9]*/"oomScoreAdj":0/' "$a" ;;
  esac
  prev=$a
done
exec /usr/sbin/runc "$@"
`

// canLowerOOMScore tells whether this machine lets root lower a process's
// OOM score, as the kubelet asks runc to.
func canLowerOOMScore() bool {
	cmd := exec.Command("sh", "-c", "echo -998 > /proc/self/oom_score_adj")
	return cmd.Run() == nil
}

func (n *node) containerdSock() string { return filepath.Join(n.dir, "containerd.sock") }

// startNode starts the worker and waits until it is Ready, its DNS
// answers and the images are loaded.
func (c *cluster) startNode() (*node, error) {
	n := &node{c: c, dir: filepath.Join(c.dir, "node")}
	for _, d := range []string{"cni", "kubelet", "containerd/root", "containerd/state"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	n.outbox = filepath.Join(n.dir, "sms-outbox")
	if err := os.MkdirAll(n.outbox, 0o755); err != nil {
		return nil, err
	}
	// daprd writes the texts as the user its image runs as.
	if err := os.Chown(n.outbox, controlPlaneUID, controlPlaneUID); err != nil {
		return nil, err
	}
	runc := "/usr/sbin/runc"
	if !canLowerOOMScore() {
		runc = filepath.Join(n.dir, "runc")
		if err := os.WriteFile(runc, []byte(runcWrapper), 0o755); err != nil {
			return nil, err
		}
		fmt.Println("k8s: root here may not lower an OOM score (no CAP_SYS_RESOURCE): runc runs through a wrapper that raises negative scores to 0")
	}
	cni := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "vouchers",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q, "gateway": %q}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": %q}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "firewall"}
  ]
}`, bridgeName, podCIDR, nodeIP, filepath.Join(n.dir, "cni-ipam"))
	if err := os.WriteFile(filepath.Join(n.dir, "cni", "10-vouchers.conflist"), []byte(cni), 0o644); err != nil {
		return nil, err
	}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/vouchers/pod:dev"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = %q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, filepath.Join(n.dir, "containerd/root"), filepath.Join(n.dir, "containerd/state"),
		n.containerdSock(), filepath.Join(n.dir, "containerd-ttrpc.sock"), runc, filepath.Join(n.dir, "cni"))
	configPath := filepath.Join(n.dir, "containerd.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	if err := c.start("containerd", nil, "/usr/bin/containerd", "--config", configPath, "--log-level", "warn"); err != nil {
		return nil, err
	}
	if err := waitFor("containerd", time.Minute, func() error {
		return exec.Command("ctr", "--address", n.containerdSock(), "version").Run()
	}); err != nil {
		return n, err
	}
	started := time.Now()
	if err := n.loadImages(); err != nil {
		return n, err
	}
	fmt.Printf("k8s: %d images loaded into the node's containerd in %.1f s\n", len(nodeImages), time.Since(started).Seconds())

	ports, err := freePorts(5)
	if err != nil {
		return n, err
	}
	kubeletPort, kubeletHealth, proxyHealth, proxyMetrics, dnsReady := ports[0], ports[1], ports[2], ports[3], ports[4]
	resolv := filepath.Join(n.dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver "+clusterDNS+"\n"), 0o644); err != nil {
		return n, err
	}
	kubeletConfig := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
tlsCertFile: %q
tlsPrivateKeyFile: %q
cgroupDriver: cgroupfs
cgroupRoot: /%s
failSwapOn: false
clusterDomain: cluster.local
clusterDNS: [%s]
resolvConf: %q
containerRuntimeEndpoint: unix://%s
podCIDR: %s
maxPods: 60
serializeImagePulls: false
# The images cannot be pulled again: never collect them, never evict
# for a full disk on a machine the test does not own.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "0%%", nodefs.available: "0%%", imagefs.available: "0%%"}
localStorageCapacityIsolation: false
oomScoreAdj: 0
podLogsDir: %q
`, nodeIP, kubeletPort, kubeletHealth, c.pki.caCert, c.pki.serverCert, c.pki.servKey,
		cgroupRoot, clusterDNS, resolv, n.containerdSock(), podCIDR, filepath.Join(n.dir, "pod-logs"))
	kubeletConfigPath := filepath.Join(n.dir, "kubelet.yaml")
	if err := os.WriteFile(kubeletConfigPath, []byte(kubeletConfig), 0o644); err != nil {
		return n, err
	}
	if err := makeCgroupRoot(); err != nil {
		return n, err
	}
	if err := c.start("kubelet", nil, bin("kubelet"),
		"--config="+kubeletConfigPath, "--kubeconfig="+c.kubeconfig,
		"--hostname-override="+nodeName, "--node-ip="+nodeIP,
		"--root-dir="+filepath.Join(n.dir, "kubelet"),
		"--v=1",
	); err != nil {
		return n, err
	}
	if err := c.start("kube-scheduler", nil, bin("kube-scheduler"),
		"--kubeconfig="+c.kubeconfig,
		"--authentication-kubeconfig="+c.kubeconfig, "--authorization-kubeconfig="+c.kubeconfig,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0", "--v=1",
	); err != nil {
		return n, err
	}
	if err := c.start("kube-proxy", nil, bin("kube-proxy"),
		"--kubeconfig="+c.kubeconfig, "--hostname-override="+nodeName,
		"--proxy-mode=iptables", "--cluster-cidr="+clusterCIDR,
		fmt.Sprintf("--healthz-bind-address=127.0.0.1:%d", proxyHealth),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", proxyMetrics),
		// Leave the machine's conntrack table size and the process's
		// OOM score alone.
		"--conntrack-max-per-core=0", "--oom-score-adj=0",
		"--v=1",
	); err != nil {
		return n, err
	}
	corefile := fmt.Sprintf(`cluster.local:53 in-addr.arpa:53 {
    bind %s
    errors
    ready 127.0.0.1:%d
    kubernetes cluster.local in-addr.arpa {
        kubeconfig %s
        pods insecure
        ttl 5
    }
}
`, clusterDNS, dnsReady, c.kubeconfig)
	corefilePath := filepath.Join(n.dir, "Corefile")
	if err := os.WriteFile(corefilePath, []byte(corefile), 0o644); err != nil {
		return n, err
	}
	if err := c.start("coredns", nil, bin("coredns"), "-conf", corefilePath); err != nil {
		return n, err
	}
	if err := waitFor("the node to be Ready", 3*time.Minute, func() error {
		out, err := c.kubectl("get", "node", nodeName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil {
			return err
		}
		if out != "True" {
			return fmt.Errorf("Ready=%q", out)
		}
		return nil
	}); err != nil {
		return n, err
	}
	return n, nil
}

// waitFor polls check until it passes, a process of the cluster exits,
// or within has gone.
func waitFor(what string, within time.Duration, check func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if e := c.exited(); e != nil {
			return e
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s: %v", within, what, err)
		}
		time.Sleep(time.Second)
	}
}

// loadImages hands the images from Docker to the node's containerd.
func (n *node) loadImages() error {
	save := exec.Command("docker", append([]string{"save"}, nodeImages...)...)
	load := exec.Command("ctr", "--address", n.containerdSock(), "-n", "k8s.io", "images", "import", "--no-unpack", "-")
	pipe, err := save.StdoutPipe()
	if err != nil {
		return err
	}
	load.Stdin = pipe
	var saveErr, loadOut strings.Builder
	save.Stderr = &saveErr
	load.Stdout, load.Stderr = &loadOut, &loadOut
	if err := save.Start(); err != nil {
		return err
	}
	if err := load.Run(); err != nil {
		_ = save.Wait()
		return fmt.Errorf("ctr images import: %v: %s", err, loadOut.String())
	}
	if err := save.Wait(); err != nil {
		return fmt.Errorf("docker save: %v: %s", err, saveErr.String())
	}
	return nil
}

// stopPods kills what the kubelet left running, through containerd,
// while it still runs: the cluster's processes stop next.
func (n *node) stopPods() {
	ctr := func(args ...string) string {
		out, _ := exec.Command("ctr", append([]string{"--address", n.containerdSock(), "-n", "k8s.io"}, args...)...).Output()
		return string(out)
	}
	for _, id := range strings.Fields(ctr("tasks", "list", "-q")) {
		ctr("tasks", "kill", "-s", "SIGKILL", id)
	}
	time.Sleep(time.Second)
	for _, id := range strings.Fields(ctr("tasks", "list", "-q")) {
		ctr("tasks", "delete", "-f", id)
	}
}

// cleanupLeftovers stops what a run that never got to clean up (killed)
// left: the pods' processes, the containerd shims of its socket, the
// bridge and kube-proxy's rules.
func cleanupLeftovers() {
	killCgroups("/sys/fs/cgroup", cgroupRoot)
	_ = exec.Command("pkill", "-KILL", "-f", "containerd-shim-runc-v2 .*-address "+filepath.Join(os.TempDir(), "vouchers-k8s-")).Run()
	if _, err := os.Stat(bin("kube-proxy")); err == nil {
		_ = exec.Command(bin("kube-proxy"), "--cleanup").Run()
	}
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), "vouchers-k8s-*"))
	for _, dir := range old {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() && time.Since(fi.ModTime()) > time.Minute {
			unmountUnder(dir)
			_ = os.RemoveAll(dir)
		}
	}
	// The pods' network namespaces containerd made, and the firewall
	// plugin's rules for their addresses.
	netns, _ := filepath.Glob("/var/run/netns/cni-*")
	for _, ns := range netns {
		_ = exec.Command("ip", "netns", "delete", filepath.Base(ns)).Run()
	}
	removePodRules()
	removeBridge()
}

// removePodRules deletes the iptables rules that name the pod network
// (the CNI plugins', which a killed run leaves), and the chains the
// kubelet and the firewall plugin make for any node, with the jumps to
// them (no other CNI user runs on this machine); then the chains only
// those rules jumped to.
func removePodRules() {
	pods := strings.TrimSuffix(podCIDR, "0/24") // "10.244.0."
	node := []string{"CNI-FORWARD", "CNI-ADMIN", "KUBE-FIREWALL", "KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY"}
	for _, table := range []string{"filter", "nat", "mangle"} {
		chains := slices.Clone(node)
		for _, target := range deleteRules(table, func(line, target string) bool {
			return strings.Contains(line, pods) || slices.Contains(node, target)
		}) {
			if strings.HasPrefix(target, "CNI-") && !slices.Contains(chains, target) {
				chains = append(chains, target)
			}
		}
		for _, ch := range chains {
			_ = exec.Command("iptables", "-t", table, "-F", ch).Run()
			_ = exec.Command("iptables", "-t", table, "-X", ch).Run()
		}
	}
}

// deleteRules deletes the rules of table that match (given the rule as
// iptables-save prints it and the chain it jumps to, if any), and returns
// the chains the deleted rules jumped to.
func deleteRules(table string, match func(line, target string) bool) []string {
	out, err := exec.Command("iptables-save", "-t", table).Output()
	if err != nil {
		return nil
	}
	var targets []string
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "-A ") {
			continue
		}
		target := ""
		if f := strings.Fields(line); f[len(f)-2] == "-j" {
			target = f[len(f)-1]
		}
		if !match(line, target) {
			continue
		}
		// iptables-restore reads a rule as iptables-save quotes it.
		restore := exec.Command("iptables-restore", "--noflush")
		restore.Stdin = strings.NewReader("*" + table + "\n" + strings.Replace(line, "-A ", "-D ", 1) + "\nCOMMIT\n")
		_ = restore.Run()
		targets = append(targets, target)
	}
	return targets
}

// cleanupNode removes what a node leaves on this machine once its
// processes have stopped: the pods' cgroups and processes, kube-proxy's
// rules, the mounts under dir, and the bridge. It does nothing where no
// node ran.
func cleanupNode(dir string) {
	killCgroups("/sys/fs/cgroup", cgroupRoot)
	if _, err := os.Stat(filepath.Join(dir, "node")); err == nil {
		_ = exec.Command(bin("kube-proxy"), "--cleanup").Run()
	}
	unmountUnder(dir)
	removePodRules()
	removeBridge()
}

// cgroupRoot holds the pods' cgroups, in every controller's hierarchy
// (cgroup v1), so that they are found and removed afterwards.
const cgroupRoot = "vouchers-k8s"

// makeCgroupRoot makes cgroupRoot in each hierarchy, as the kubelet wants
// it to exist; cpuset's takes its parent's CPUs and memory nodes.
func makeCgroupRoot() error {
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "unified" {
			continue
		}
		dir := filepath.Join("/sys/fs/cgroup", e.Name(), cgroupRoot)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if e.Name() == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpuset", f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// killCgroups kills every process in the cgroups named name under root
// (each controller's hierarchy, on cgroup v1), then removes them.
func killCgroups(root, name string) {
	var dirs []string
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Contains(path, "/"+name) {
			dirs = append(dirs, path)
		}
		return nil
	})
	for _, d := range dirs {
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	// Deepest first.
	slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
	for _, d := range dirs {
		_ = os.Remove(d)
	}
}

// unmountUnder unmounts every mount point under dir, deepest first.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}
