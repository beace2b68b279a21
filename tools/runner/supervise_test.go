package runner

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary plays the children of a system: an app when its
// environment says so (testRoleEnv), a sidecar when it is called as
// "daprd" (a link to it), so the supervision tests need neither the
// services nor a built daprd.
const (
	testRoleEnv = "RUNNER_TEST_ROLE"
	// roleApp answers /healthz and /pid; roleCrashAfterFirst does so on
	// its first start in a data dir and crashes on every later one.
	roleApp             = "app"
	roleCrashAfterFirst = "crash-after-first"
)

func TestMain(m *testing.M) {
	switch {
	case filepath.Base(os.Args[0]) == "daprd":
		os.Exit(fakeDaprd(os.Args[1:]))
	case os.Getenv(testRoleEnv) != "":
		os.Exit(fakeApp(os.Getenv(testRoleEnv)))
	}
	os.Exit(m.Run())
}

// fakeApp answers /healthz, and /pid with its process id to a caller with
// its app token, as the services demand of their sidecar.
func fakeApp(role string) int {
	if role == roleCrashAfterFirst {
		marker := filepath.Join(os.Getenv("DATA_DIR"), "started-once")
		if _, err := os.Stat(marker); err == nil {
			fmt.Println("loading the configuration")
			fmt.Println("boom: the configuration is broken")
			return 3
		}
		if err := os.WriteFile(marker, nil, 0o600); err != nil {
			fmt.Println(err)
			return 1
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /pid", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("dapr-api-token") != os.Getenv("APP_API_TOKEN") {
			http.Error(w, "wrong app token", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, os.Getpid())
	})
	fmt.Println("listening on", os.Getenv("APP_PORT"))
	err := http.ListenAndServe("127.0.0.1:"+os.Getenv("APP_PORT"), mux)
	fmt.Println(err)
	return 1
}

// fakeDaprd takes daprd's flags and serves its health check, and service
// invocation of its own app, on --dapr-http-port.
func fakeDaprd(args []string) int {
	fs := flag.NewFlagSet("daprd", flag.ContinueOnError)
	appID := fs.String("app-id", "", "")
	appPort := fs.Int("app-port", 0, "")
	httpPort := fs.Int("dapr-http-port", 0, "")
	for _, name := range []string{"app-protocol", "dapr-grpc-port", "dapr-internal-grpc-port", "metrics-port",
		"dapr-listen-addresses", "dapr-internal-grpc-listen-address", "metrics-listen-address", "log-level",
		"app-health-check-path", "app-health-probe-interval", "app-health-probe-timeout", "app-health-threshold",
		"resources-path", "config"} {
		fs.String(name, "", "")
	}
	fs.Bool("enable-app-health-check", false, "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	app, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(*appPort))
	proxy := httputil.NewSingleHostReverseProxy(app)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1.0/healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/v1.0/invoke/{app}/method/{method...}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("dapr-api-token") != os.Getenv("DAPR_API_TOKEN") || r.PathValue("app") != *appID {
			http.Error(w, "refused", http.StatusForbidden)
			return
		}
		r.URL.Path = "/" + r.PathValue("method")
		r.Header.Set("dapr-api-token", os.Getenv("APP_API_TOKEN"))
		proxy.ServeHTTP(w, r)
	})
	fmt.Println("daprd (fake) for", *appID, "on", *httpPort)
	err := http.ListenAndServe("127.0.0.1:"+strconv.Itoa(*httpPort), mux)
	fmt.Println(err)
	return 1
}

// lines collects the runner's own lines, safe for its goroutines.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, fmt.Sprintf(format, args...))
}

func (l *lines) matching(re *regexp.Regexp) [][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out [][]string
	for _, line := range l.all {
		if m := re.FindStringSubmatch(line); m != nil {
			out = append(out, m)
		}
	}
	return out
}

func (l *lines) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

// startEcho starts a system of one app, "echo" (the test binary in role),
// beside daprd (the real one when daprd is a path to it, else the fake),
// with the given supervision.
func startEcho(t *testing.T, role, daprd string, sv Supervision) (*System, *lines) {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	if daprd == "" {
		daprd = filepath.Join(dir, "daprd")
		require.NoError(t, os.Symlink(self, daprd))
	}
	// Name resolution in the run's own file, as components/config.yaml
	// has it: the real daprd would otherwise use mDNS.
	write(t, filepath.Join(dir, "components", "config.yaml"), `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: test
spec:
  nameResolution:
    component: sqlite
    version: v1
    configuration:
      connectionString: "${DATA_DIR}/nameresolution.db"
`)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "components", "none"), 0o755))
	write(t, filepath.Join(dir, "dapr.yaml"), fmt.Sprintf(`version: 1
common:
  resourcesPaths: [./components/none]
  configFilePath: ./components/config.yaml
  enableAppHealthCheck: true
  appHealthCheckPath: /healthz
  appHealthProbeInterval: 1
apps:
  - appID: echo
    appDirPath: .
    command: [%q]
`, self))
	log := &lines{}
	sys, err := Start(context.Background(), Options{
		RunFile: filepath.Join(dir, "dapr.yaml"), DataDir: filepath.Join(dir, "data"), Daprd: daprd,
		FreePorts: true, Output: io.Discard, StartTimeout: time.Minute, Logf: log.logf,
		Env: map[string]string{testRoleEnv: role}, Supervise: &sv,
	})
	require.NoError(t, err)
	t.Cleanup(sys.Stop)
	return sys, log
}

// invokePID asks the app for its pid through its sidecar, which proves
// the sidecar reaches the app with the right token.
func invokePID(sys *System) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, sys.SidecarURL("echo")+"/v1.0/invoke/echo/method/pid", nil)
	req.Header.Set("dapr-api-token", sys.DaprToken("echo"))
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestSupervisionStartsAKilledPartAgain: kill -9 of the app, then of its
// daprd; each comes back alone, on the same ports, and the sidecar reaches
// the new app with the same tokens. Nothing is left after Stop.
func TestSupervisionStartsAKilledPartAgain(t *testing.T) {
	daprds := map[string]string{"fake_daprd": ""}
	if real, err := filepath.Abs(filepath.Join(repoRoot, ".bin", "daprd")); err == nil {
		daprds["real_daprd"] = real
	}
	for name, daprd := range daprds {
		t.Run(name, func(t *testing.T) {
			if daprd != "" {
				if _, err := os.Stat(daprd); err != nil {
					t.Skip("no daprd built: make daprd")
				}
			}
			sv := Supervision{FirstDelay: 100 * time.Millisecond, MaxDelay: time.Second, StableAfter: time.Minute, CrashLoopAfter: 5}
			sys, log := startEcho(t, roleApp, daprd, sv)
			before := sys.Processes()
			firstApp, err := invokePID(sys)
			require.NoError(t, err, "through the sidecar before any kill")
			require.Equal(t, before["echo"], firstApp)

			killed := time.Now()
			require.NoError(t, sys.Kill("echo", PartApp))
			var again int
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				again, err = invokePID(sys)
				assert.NoError(c, err)
			}, time.Minute, 50*time.Millisecond, "the app never answered through its sidecar again")
			t.Logf("app killed to answering through its sidecar again: %s", time.Since(killed).Round(time.Millisecond))
			assert.NotEqual(t, firstApp, again, "the same app answers: it was not killed")
			after := sys.Processes()
			assert.Equal(t, again, after["echo"], "the app that answers is not the one the runner started")
			assert.Equal(t, before["echo.daprd"], after["echo.daprd"], "daprd was restarted with its app")
			assert.NotEmpty(t, log.matching(regexp.MustCompile(`^echo exited \(signal: killed\) after .*; restarting it in 100ms \(restart 1\)$`)), "no restart line")
			require.Eventually(t, func() bool {
				return len(log.matching(regexp.MustCompile(`^echo is healthy again \(restart 1,`))) > 0
			}, time.Minute, 50*time.Millisecond, "the runner did not say the app is back")

			killed = time.Now()
			require.NoError(t, sys.Kill("echo", PartDapr))
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				_, err := invokePID(sys)
				assert.NoError(c, err)
			}, time.Minute, 50*time.Millisecond, "the sidecar never reached its app again")
			t.Logf("daprd killed to reaching its app again: %s", time.Since(killed).Round(time.Millisecond))
			final := sys.Processes()
			assert.NotEqual(t, after["echo.daprd"], final["echo.daprd"], "daprd was not started again")
			assert.Equal(t, after["echo"], final["echo"], "the app was restarted with its daprd")

			sys.Stop()
			assert.Empty(t, sys.Processes(), "running after Stop")
			for name, pid := range final {
				assert.False(t, alive(pid), "%s (pid %d) outlived Stop", name, pid)
			}
		})
	}
}

// TestSupervisionReportsACrashLoop: an app that crashes on every start
// after its first is started again at growing delays, capped, and reported
// as crash-looping with its last lines; Stop ends the loop.
func TestSupervisionReportsACrashLoop(t *testing.T) {
	sv := Supervision{FirstDelay: 50 * time.Millisecond, MaxDelay: 200 * time.Millisecond, StableAfter: time.Minute, CrashLoopAfter: 4}
	sys, log := startEcho(t, roleCrashAfterFirst, "", sv)
	require.NoError(t, sys.Kill("echo", PartApp))

	loop := regexp.MustCompile(`^ERROR: echo is crash-looping: 4 crashes in a row`)
	require.Eventually(t, func() bool { return len(log.matching(loop)) > 0 }, time.Minute, 50*time.Millisecond, "no crash loop reported")
	report := log.matching(regexp.MustCompile(`(?s)^ERROR: echo is crash-looping.*`))[0][0]
	assert.Contains(t, report, "boom: the configuration is broken", "the report lacks the app's last lines")

	restarts := log.matching(regexp.MustCompile(`^echo exited \((.*?)\) after .*; restarting it in (\S+) \(restart (\d+)\)$`))
	require.GreaterOrEqual(t, len(restarts), 4)
	assert.Equal(t, "signal: killed", restarts[0][1], "the first exit is the kill")
	assert.Equal(t, "exit status 3", restarts[1][1], "then the app's own")
	want := []string{"50ms", "100ms", "200ms", "200ms"}
	for i, w := range want {
		assert.Equal(t, w, restarts[i][2], "delay before restart %d", i+1)
		assert.Equal(t, strconv.Itoa(i+1), restarts[i][3], "restart number")
	}

	sys.Stop()
	n := log.count()
	time.Sleep(4 * sv.MaxDelay)
	assert.Equal(t, n, log.count(), "the supervisor went on after Stop")
	assert.Empty(t, sys.Processes(), "running after Stop")
}

// TestStopDoesNotWaitOutABackoff: Stop during a long delay returns at
// once and starts nothing.
func TestStopDoesNotWaitOutABackoff(t *testing.T) {
	sys, log := startEcho(t, roleApp, "", Supervision{FirstDelay: time.Hour})
	require.NoError(t, sys.Kill("echo", PartApp))
	require.Eventually(t, func() bool {
		return len(log.matching(regexp.MustCompile(`restarting it in 1h0m0s \(restart 1\)`))) > 0
	}, time.Minute, 20*time.Millisecond)
	stopped := make(chan struct{})
	go func() { sys.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Stop waits for the restart delay")
	}
	assert.Empty(t, sys.Processes())
	assert.ErrorContains(t, sys.Restart(context.Background(), "echo", PartApp), "restarts what exits itself")
}

func TestSupervisionDelaysDoubleUpToTheCap(t *testing.T) {
	sv := Supervision{FirstDelay: time.Second, MaxDelay: 30 * time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 5: 16 * time.Second, 6: 30 * time.Second, 60: 30 * time.Second} {
		assert.Equal(t, want, sv.delay(n), "delay after crash %d", n)
	}
	d := Supervision{}.withDefaults()
	assert.Equal(t, DefaultSupervision(), d, "zero fields take the defaults")
	assert.Equal(t, time.Hour, Supervision{FirstDelay: time.Hour}.withDefaults().MaxDelay, "the cap is below the first delay")
}
