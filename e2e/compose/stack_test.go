// Package compose runs docker-compose.yml for real: the images `make
// compose-images` built on this machine (no registry), every container
// started by Compose, and a customer driving the published port, as a
// platform engineer handed the file would. `make test-compose` runs it.
package compose

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bankabc/vouchers/e2e/internal/journey"
	"github.com/bankabc/vouchers/e2e/internal/repo"
	"github.com/bankabc/vouchers/tools/runner"
)

// repoRoot is the folder holding go.work.
var repoRoot = repo.Root()

// project is the Compose project the test owns: its containers, network
// and volumes are removed before and after, so it never touches a stack a
// person brought up (project "vouchers").
const project = "vouchers-test"

// testSubnet is the Compose network's, pinned so gateway can be told
// (WEBHOOK_ALLOWED_NETWORKS) that the receiver on it may be called.
const testSubnet = "172.31.250.0/24"

// stack is the Compose deployment under test.
type stack struct {
	compose string   // the compose CLI (its standalone binary)
	env     []string // the variables the Compose files read
	gateway string   // the public API, as a customer reaches it
	peer    string   // the receiver's record of webhooks
	// provider is the provider fake's port, for its test controls.
	provider string
	// sys is the stack as its customers and the test see it.
	sys *journey.System
}

// composeCLI is COMPOSE (make test-compose names the binary `make
// compose-tool` built), or docker-compose on PATH.
func composeCLI() string {
	if c := os.Getenv("COMPOSE"); c != "" {
		return c
	}
	return "docker-compose"
}

func newStack() (*stack, error) {
	ports := make([]int, 3)
	for i := range ports {
		p, err := runner.FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	s := &stack{
		compose:  composeCLI(),
		gateway:  fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		peer:     fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		provider: fmt.Sprintf("http://127.0.0.1:%d", ports[2]),
	}
	s.env = append(os.Environ(),
		fmt.Sprintf("GATEWAY_PUBLISH=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("PEER_PUBLISH=%d", ports[1]),
		fmt.Sprintf("PROVIDER_PUBLISH=%d", ports[2]),
		"TEST_SUBNET="+testSubnet,
	)
	s.sys = &journey.System{
		Gateway: s.gateway,
		// The texts the sms sidecar wrote (the localstorage binding).
		Texts: func() (map[string]string, error) {
			id, err := s.container("sms-dapr")
			if err != nil {
				return nil, err
			}
			return files(id, "/data/sms")
		},
		Received: s.received,
		ProviderOrders: func() (map[string]int, error) {
			token, err := tokenOf("voucher-provider", "APP_API_TOKEN")
			if err != nil {
				return nil, err
			}
			return journey.ProviderOrders(s.provider, token)
		},
	}
	return s, nil
}

// received is the peer's record of the webhooks it took.
func (s *stack) received() ([]journey.Delivery, error) {
	resp, err := http.Get(s.peer + "/received")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var got []journey.Delivery
	return got, json.NewDecoder(resp.Body).Decode(&got)
}

// run runs the compose CLI on the test's project and files; the error
// carries what it printed.
func (s *stack) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append([]string{
		"-p", project,
		"-f", filepath.Join(repoRoot, "docker-compose.yml"),
		"-f", filepath.Join(repoRoot, "e2e", "compose", "override.yml"),
		"--env-file", filepath.Join(repoRoot, "deploy", "compose", "local-images.env"),
		"--project-directory", repoRoot,
	}, args...)
	cmd := exec.CommandContext(ctx, s.compose, full...)
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("compose %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// up starts the stack and waits until every container with a healthcheck
// is healthy.
func (s *stack) up() error {
	_, err := s.run(6*time.Minute, "up", "-d", "--no-build", "--wait", "--wait-timeout", "300")
	return err
}

// down removes the containers, the network and, with volumes, the data.
func (s *stack) down(volumes bool) error {
	args := []string{"down", "--remove-orphans", "--timeout", "20"}
	if volumes {
		args = append(args, "--volumes")
	}
	_, err := s.run(3*time.Minute, args...)
	return err
}

// container is the id of service's container.
func (s *stack) container(service string) (string, error) {
	out, err := s.run(time.Minute, "ps", "-q", service)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(out)
	if id == "" || strings.Contains(id, "\n") {
		return "", fmt.Errorf("service %s has containers %q", service, id)
	}
	return id, nil
}

// docker runs the docker CLI.
func docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// state is what Docker says of a container: running, its restarts, its
// health ("" without a healthcheck), and its main process.
type state struct {
	Running      bool
	RestartCount int
	Health       string
	Pid          int
}

func inspect(id string) (state, error) {
	out, err := docker("inspect", "-f", "{{.State.Running}} {{.RestartCount}} {{.State.Pid}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", id)
	if err != nil {
		return state{}, err
	}
	f := strings.Fields(out)
	if len(f) < 3 {
		return state{}, fmt.Errorf("inspect %s: %q", id, out)
	}
	st := state{Running: f[0] == "true"}
	st.RestartCount, _ = strconv.Atoi(f[1])
	st.Pid, _ = strconv.Atoi(f[2])
	if len(f) > 3 {
		st.Health = f[3]
	}
	return st, nil
}

// files reads every file under dir in container id (docker cp streams a
// tar: the images have no shell to cat with), by base name.
func files(id, dir string) (map[string]string, error) {
	cmd := exec.Command("docker", "cp", id+":"+dir, "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("docker cp %s:%s: %w: %s", id, dir, err, stderr.String())
	}
	got := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		got[filepath.Base(h.Name)] = string(b)
	}
}

// memory is each running container's resident memory (the VmRSS of its
// processes, read on the host as root), in MiB, by service. docker stats
// is not used: on cgroup v1 it leaves out memory it counts as cache.
func (s *stack) memory() (map[string]float64, error) {
	out, err := s.run(time.Minute, "ps", "--format", "{{.Service}} {{.ID}}")
	if err != nil {
		return nil, err
	}
	got := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		svc, id, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		pids, err := docker("top", id, "-eo", "pid")
		if err != nil {
			continue // stopped meanwhile
		}
		for _, pid := range strings.Fields(pids)[1:] {
			b, err := os.ReadFile("/proc/" + pid + "/status")
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
					kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
					got[svc] += kb / 1024
				}
			}
		}
	}
	return got, nil
}

// probe runs the peer's prober inside the Compose network and returns
// what each call got.
func (s *stack) probe(calls []probeCall) (map[string]probeOutcome, error) {
	spec, err := json.Marshal(calls)
	if err != nil {
		return nil, err
	}
	out, err := s.run(2*time.Minute, "run", "--rm", "--no-deps", "-T", "peer", "probe", string(spec))
	if err != nil {
		return nil, err
	}
	// compose run may print its own lines first; the outcomes are the last.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var outcomes []probeOutcome
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &outcomes); err != nil {
		return nil, fmt.Errorf("probe's answer %q: %w", out, err)
	}
	got := map[string]probeOutcome{}
	for _, o := range outcomes {
		got[o.Name] = o
	}
	return got, nil
}

type probeCall struct {
	Name   string            `json:"name"`
	Method string            `json:"method"`
	URL    string            `json:"url"`
	Header map[string]string `json:"header,omitempty"`
	Body   string            `json:"body,omitempty"`
}

type probeOutcome struct {
	Name   string `json:"name"`
	Status int    `json:"status"`
	Error  string `json:"error"`
}
