package compose

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/e2e/internal/journey"
)

// TestMain checks the engine first: without one there is nothing to test.
// COMPOSE_TEST_REQUIRED (make test-compose sets it) makes that a failure,
// not a skip, so CI cannot pass without having run the stack.
func TestMain(m *testing.M) {
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		msg := "compose: no Docker engine answers (docker info: " + strings.TrimSpace(string(out)) + "); make test-compose installs and starts one as root"
		if os.Getenv("COMPOSE_TEST_REQUIRED") != "" {
			fmt.Println(msg)
			os.Exit(1)
		}
		fmt.Println(msg + ": skipped")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCompose brings the stack up and walks it as its users would, in
// order, on the same stack: a customer's journey, refusals from inside the
// network, a crash during a burst, a restart, and the teardown.
func TestCompose(t *testing.T) {
	s, err := newStack()
	require.NoError(t, err)
	// What an earlier run left (a killed test) goes first.
	require.NoError(t, s.down(true))
	t.Cleanup(func() {
		if t.Failed() {
			if out, err := s.run(time.Minute, "logs", "--no-color", "--tail", "40"); err == nil {
				t.Logf("the stack's last log lines:\n%s", out)
			}
		}
		if err := s.down(true); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	started := time.Now()
	require.NoError(t, s.up(), "docker compose up")
	t.Logf("measured: every container healthy %.1f s after `up` (images built)", time.Since(started).Seconds())
	if mem, err := s.memory(); err == nil {
		t.Logf("measured: RSS at idle (MiB): %s", table(mem))
	}

	var first *journey.Customer
	ok := t.Run("journey", func(t *testing.T) {
		first = journey.Walk(t, s.sys, "compose", fmt.Sprintf("http://peer:8099/hooks/%d", time.Now().UnixNano()))
	})
	ok = ok && t.Run("late_success_by_sms", func(t *testing.T) { journey.LateSuccess(t, s.sys) })
	ok = ok && t.Run("forged_calls_from_the_network", func(t *testing.T) { forged(t, s, first) })
	ok = ok && t.Run("crash_during_a_burst_loses_nothing", func(t *testing.T) { crashDuringBurst(t, s) })
	ok = ok && t.Run("steady_load", func(t *testing.T) { steadyLoad(t, s) })
	ok = ok && t.Run("restart_keeps_accounts_and_vouchers", func(t *testing.T) { restart(t, s, first) })
	if ok {
		t.Run("down_leaves_nothing", func(t *testing.T) { down(t, s) })
	}
}

// forged: from a container on the Compose network, the apps' ports and
// the sidecars' APIs are not reachable at all (they listen on their pods'
// loopback), the provider fake's controls need its token, and gateway's
// public port answers 404 for every internal path. The customer's
// purchase is unchanged afterwards.
func forged(t *testing.T, s *stack, victim *journey.Customer) {
	victim.T = t // its journey's subtest has ended
	before := victim.Vouchers()
	require.Len(t, before, 1)
	var calls []probeCall
	refused := map[string]bool{}
	for _, app := range []struct{ pod, port, path string }{
		{"gateway-pod", "8090", "/events/receive-code"},
		{"voucher-int-pod", "8082", "/events/request-code"},
		{"voucher-pod", "8083", "/events/receive-code"},
		{"sms-pod", "8084", "/events/send-sms"},
		{"voucher-provider-pod", "8081", "/dapr/subscribe"},
	} {
		// The app port: nothing listens there beyond the pod's loopback
		// (the provider fake's port is open on purpose; its routes are
		// checked below).
		if app.port != "8081" {
			name := app.pod + " app port"
			calls = append(calls, probeCall{Name: name, Method: "POST", URL: "http://" + app.pod + ":" + app.port + app.path, Body: "{}"})
			refused[name] = true
		}
		// daprd's HTTP API: publish as that app.
		name := app.pod + " daprd API"
		calls = append(calls, probeCall{Name: name, Method: "POST", URL: "http://" + app.pod + ":3500/v1.0/publish/pubsub/receive-code", Body: "{}"})
		refused[name] = true
	}
	for _, token := range []string{"", "wrong-token-wrong-token-wrong-token"} {
		for _, path := range []string{"/api/orders", "/api/admin/outage"} {
			h := map[string]string{}
			if token != "" {
				h["dapr-api-token"] = token
			}
			method := "GET"
			if strings.HasSuffix(path, "outage") {
				method = "POST"
			}
			calls = append(calls, probeCall{Name: fmt.Sprintf("provider %s token %q", path, token), Method: method, URL: "http://voucher-provider:8081" + path, Header: h, Body: `{"mode":"error","seconds":60}`})
		}
	}
	for _, path := range []string{"/events/receive-code", "/webhook-sweep", "/outbox-relay", "/ops/dead-letters", "/metrics", "/dapr/subscribe"} {
		calls = append(calls, probeCall{Name: "gateway public " + path, Method: "POST", URL: "http://gateway-pod:8080" + path, Body: "{}"})
	}
	got, err := s.probe(calls)
	require.NoError(t, err)
	for _, call := range calls {
		o, ok := got[call.Name]
		if !assert.True(t, ok, "%s: no outcome", call.Name) {
			continue
		}
		switch {
		case refused[call.Name]:
			assert.Contains(t, o.Error, "connection refused", "%s: %+v", call.Name, o)
		case strings.HasPrefix(call.Name, "provider"):
			assert.Equal(t, http.StatusUnauthorized, o.Status, "%s: %+v", call.Name, o)
		default:
			assert.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, o.Status, "%s: %+v", call.Name, o)
		}
	}
	t.Logf("measured: %d forged calls from inside the Compose network, every one refused", len(calls))
	assert.Equal(t, before, victim.Vouchers(), "the victim's vouchers changed")
	for _, id := range victim.Requests {
		var v journey.RequestView
		victim.Do("GET", "/voucher/requests/"+id, nil).Decode(t, &v)
		assert.Equal(t, "SUCCESS", v.Status, "request %s", id)
	}
}

// tokenOf reads a token from an app's Compose token file.
func tokenOf(app, name string) (string, error) {
	b, err := os.ReadFile(repoRoot + "/deploy/compose/tokens/" + app + ".env")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+"="); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s has no %s", app, name)
}

// crashDuringBurst: voucher-int's app process is killed (SIGKILL, as the
// kernel's OOM killer would) during a burst of purchases
// (journey.CrashDuringBurst); its restart policy brings it back, and
// nothing is lost or bought twice.
func crashDuringBurst(t *testing.T, s *stack) {
	id, err := s.container("voucher-int")
	require.NoError(t, err)
	before, err := inspect(id)
	require.NoError(t, err)
	require.True(t, before.Running)
	// The process must be the container's as this machine sees it: with
	// an engine in another PID namespace (rootless, a VM) the number
	// would name some other process here.
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", before.Pid))
	require.NoError(t, err)
	require.Contains(t, string(cg), id, "process %d is not voucher-int's container's on this machine", before.Pid)
	crash := func() {
		require.NoError(t, syscall.Kill(before.Pid, syscall.SIGKILL), "kill voucher-int's process")
	}
	recovered := func() {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			st, err := inspect(id)
			require.NoError(t, err)
			if st.Running && st.RestartCount > before.RestartCount && st.Health == "healthy" {
				t.Logf("measured: voucher-int restarted by its restart policy (restarts %d -> %d), healthy again", before.RestartCount, st.RestartCount)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("voucher-int did not come back: %+v", st)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	journey.CrashDuringBurst(t, s.sys, 50, crash, recovered)
}

// steadyLoad offers purchases at COMPOSE_LOAD_RATE a second (20) for
// COMPOSE_LOAD_FOR (15s), each with a webhook to the peer, and samples
// every container's memory meanwhile: the figures docs/deploy.md gives for
// Compose under load (make bench-compose runs it alone, harder). It
// asserts only that every purchase ends SUCCESS and its webhook arrives;
// the times from purchase to webhook are printed, not checked.
func steadyLoad(t *testing.T, s *stack) {
	rate, err := strconv.Atoi(envOr("COMPOSE_LOAD_RATE", "20"))
	require.NoError(t, err)
	span, err := time.ParseDuration(envOr("COMPOSE_LOAD_FOR", "15s"))
	require.NoError(t, err)
	var buyers []*journey.Customer
	for range 4 {
		buyers = append(buyers, journey.SignUp(t, s.sys, journey.Name("load"), journey.Phone(0)))
	}

	// A sample a second: each reads every container's processes, which
	// must not load the machine it measures.
	peak := map[string]float64{}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if mem, err := s.memory(); err == nil {
				for k, mib := range mem {
					peak[k] = max(peak[k], mib)
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	stopped := false
	stopSampling := func() {
		if !stopped {
			stopped = true
			close(stop)
			<-sampled
		}
	}
	defer stopSampling()

	n := int(span.Seconds() * float64(rate))
	run := time.Now().UnixNano()
	hook := func(i int) string { return fmt.Sprintf("http://peer:8099/load/%d/%d", run, i) }
	results := journey.BuyPaced(buyers, n, time.Second/time.Duration(rate), hook, nil)
	for _, r := range results {
		require.NoError(t, r.Err)
	}
	for _, r := range results {
		assert.Equal(t, "SUCCESS", r.Buyer.WaitDelivered(r.Location).Status)
	}
	stopSampling()
	// From each purchase sent to its webhook's arrival at the receiver.
	arrived := map[string]time.Time{}
	received, err := s.sys.Received()
	require.NoError(t, err)
	for _, d := range received {
		if _, seen := arrived[d.Path]; !seen {
			arrived[d.Path] = d.At
		}
	}
	var lat []time.Duration
	for i, r := range results {
		if at, ok := arrived[strings.TrimPrefix(hook(i), "http://peer:8099")]; ok {
			lat = append(lat, at.Sub(r.Sent))
		}
	}
	assert.Len(t, lat, n, "every purchase's webhook arrived")
	t.Logf("measured: %d purchases at %d/s, each with a webhook, all SUCCESS; from purchase to webhook %s; peak RSS meanwhile (MiB): %s", n, rate, journey.Percentiles(lat), table(peak))
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// restart: `docker compose restart` of the whole stack keeps accounts,
// sessions' owners and vouchers (named volumes).
func restart(t *testing.T, s *stack, c *journey.Customer) {
	c.T = t // its journey's subtest has ended
	before := c.Vouchers()
	started := time.Now()
	_, err := s.run(5*time.Minute, "restart", "--timeout", "20")
	require.NoError(t, err)
	require.NoError(t, s.up(), "healthy again after the restart")
	t.Logf("measured: healthy again %.1f s after `docker compose restart`", time.Since(started).Seconds())
	c.SignIn()
	assert.Equal(t, before, c.Vouchers(), "vouchers after the restart")
	// And the system still sells.
	v := c.WaitDelivered(c.Buy(""))
	assert.Equal(t, "SUCCESS", v.Status)
}

// down: `docker compose down` leaves no container of the project, and
// nothing listens on the published port.
func down(t *testing.T, s *stack) {
	require.NoError(t, s.down(false))
	out, err := docker("ps", "-aq", "--filter", "label=com.docker.compose.project="+project)
	require.NoError(t, err)
	assert.Empty(t, strings.TrimSpace(out), "containers left after down")
	out, err = docker("network", "ls", "-q", "--filter", "label=com.docker.compose.project="+project)
	require.NoError(t, err)
	assert.Empty(t, strings.TrimSpace(out), "networks left after down")
	host := strings.TrimPrefix(s.gateway, "http://")
	if conn, err := net.DialTimeout("tcp", host, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after down", host)
	}
}

func table(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %-22s %6.1f", k, m[k])
	}
	return b.String()
}
