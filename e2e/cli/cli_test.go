// Package cli runs the repository's run file under the real Dapr CLI
// (`dapr run -f .`), as a Dapr user would after `dapr init`: every sidecar
// healthy, a customer's purchase through it, and the CLI stopped cleanly.
package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/e2e/internal/repo"
	"github.com/bankabc/vouchers/tools/runner"
)

// repoRoot is the folder holding go.work.
var repoRoot = repo.Root()

// findCLI finds the Dapr CLI: DAPR_CLI, dapr on PATH, or shared/tools/dapr
// beside the repository or one of its ancestors (where this project's
// machines keep the CLI built from dapr/cli's source). Empty: none.
func findCLI() string {
	if p := os.Getenv("DAPR_CLI"); p != "" {
		return p
	}
	if p, err := exec.LookPath("dapr"); err == nil {
		return p
	}
	for dir := filepath.Dir(repoRoot); ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "shared", "tools", "dapr")
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestDaprRunFile: `dapr run -f .` on the repository as the README has it.
// The CLI finds daprd at <runtime path>/.dapr/bin/daprd: here the one
// `make daprd` built, through DAPR_RUNTIME_PATH, in place of dapr init's.
func TestDaprRunFile(t *testing.T) {
	cli := findCLI()
	if cli == "" {
		t.Skip("no Dapr CLI: set DAPR_CLI, put dapr on PATH, or keep dapr/cli's build at ../shared/tools/dapr")
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", 2*time.Second); err != nil {
		t.Skipf("Redis does not answer on 127.0.0.1:6379 (dapr init starts one): %v", err)
	} else {
		c.Close()
	}
	daprd := filepath.Join(repoRoot, ".bin", "daprd")
	require.FileExists(t, daprd, "make daprd")
	rf, err := runner.LoadRunFile(filepath.Join(repoRoot, "dapr.yaml"))
	require.NoError(t, err)
	for _, a := range rf.Apps {
		require.FileExists(t, filepath.Join(a.AppDirPath, a.Command[0]), "make build")
		for _, p := range []int{a.AppPort, a.DaprHTTPPort, a.DaprGRPCPort, a.MetricsPort} {
			if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err != nil {
				t.Fatalf("port %d of dapr.yaml (%s) is taken: stop what holds it (a make run?)", p, a.AppID)
			} else {
				ln.Close()
			}
		}
	}

	// What `make cli` prepares, and what the README has the user export.
	dataDir := filepath.Join(repoRoot, runner.CLIDataDir())
	require.NoError(t, os.MkdirAll(dataDir, 0o755))
	require.NoError(t, runner.EnsureLocalSecrets(filepath.Join(dataDir, "secrets.json")))
	runtime := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(runtime, ".dapr", "bin"), 0o755))
	require.NoError(t, os.Symlink(daprd, filepath.Join(runtime, ".dapr", "bin", "daprd")))
	rootDB, rootDBBefore := "/nameresolution.db", modTime("/nameresolution.db")

	logPath := filepath.Join(t.TempDir(), "dapr-run.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	defer logFile.Close()
	cmd := exec.Command(cli, "run", "-f", ".")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "APP_API_TOKEN="+randomToken(), "DAPR_API_TOKEN="+randomToken(), "DAPR_RUNTIME_PATH="+runtime)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	started := time.Now()
	require.NoError(t, cmd.Start())
	// exited is closed when the CLI has exited; exitErr is then its error.
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	defer func() {
		if t.Failed() {
			printLogs(t, logPath, rf)
		}
		select {
		case <-exited:
		default: // as Ctrl-C would, then harder
			_ = cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-exited:
			case <-time.After(time.Minute):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		}
		for _, pid := range leftovers(rf) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}()

	// Every sidecar healthy (/v1.0/healthz answers 204 once its
	// components loaded), and every app ready (/readyz: it reached its
	// sidecar and read what it needs from it).
	for _, a := range rf.Apps {
		for what, url := range map[string]string{
			"sidecar": fmt.Sprintf("http://127.0.0.1:%d/v1.0/healthz", a.DaprHTTPPort),
			"app":     fmt.Sprintf("http://127.0.0.1:%d/readyz", a.AppPort),
		} {
			require.Eventually(t, func() bool {
				select {
				case <-exited:
					return true
				default:
				}
				resp, err := http.Get(url)
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode/100 == 2
			}, 3*time.Minute, 250*time.Millisecond, "%s's %s never turned healthy (%s)", a.AppID, what, url)
			select {
			case <-exited:
				t.Fatalf("dapr run exited early: %v", exitErr)
			default:
			}
		}
	}
	t.Logf("all %d sidecars healthy and apps ready %s after dapr run", len(rf.Apps), time.Since(started).Round(time.Millisecond))

	// A customer: sign up, verify the phone with the texted code, buy,
	// follow the request to SUCCESS, list the voucher.
	base := "http://127.0.0.1:" + rf.Apps[len(rf.Apps)-1].Env["PUBLIC_PORT"]
	require.Equal(t, "gateway", rf.Apps[len(rf.Apps)-1].AppID, "gateway is the run file's last app")
	phone := fmt.Sprintf("+8490%07d", time.Now().UnixNano()%1e6*10) // last digit 0: the provider fake answers at once
	c := &client{t: t, base: base}
	r := c.call("POST", "/user/sign-up", map[string]string{"username": "cli-" + randomToken()[:12], "phoneNumber": phone, "password": "a long enough password"})
	require.Equal(t, http.StatusCreated, r.status, "sign-up: %s", r.body)
	c.token = r.field(t, "accessToken")
	code := smsCode(t, filepath.Join(dataDir, "sms"), phone)
	r = c.call("POST", "/user/phone/verify", map[string]string{"code": code})
	require.Equal(t, http.StatusOK, r.status, "verify: %s", r.body)
	r = c.call("POST", "/voucher", map[string]string{"phoneNumber": phone})
	require.Equal(t, http.StatusAccepted, r.status, "purchase: %s", r.body)
	location := r.header.Get("Location")
	require.NotEmpty(t, location)
	var status string
	require.Eventually(t, func() bool {
		r := c.call("GET", location, nil)
		status = r.field(t, "status")
		return status != "PROCESSING"
	}, 2*time.Minute, 200*time.Millisecond, "the purchase stayed PROCESSING")
	require.Equal(t, "SUCCESS", status)
	r = c.call("GET", "/voucher?phoneNumber="+strings.ReplaceAll(phone, "+", "%2B"), nil)
	require.Equal(t, http.StatusOK, r.status, "list: %s", r.body)
	var list struct {
		Vouchers []struct{ VoucherCode string } `json:"vouchers"`
	}
	require.NoError(t, json.Unmarshal(r.body, &list))
	require.Len(t, list.Vouchers, 1, "the list: %s", r.body)
	assert.NotEmpty(t, list.Vouchers[0].VoucherCode)
	t.Logf("sign-up, verify, purchase (SUCCESS) and list through the CLI's run: done %s after dapr run", time.Since(started).Round(time.Millisecond))

	// Ctrl-C: the CLI stops every daprd and app and exits.
	stopAt := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-exited:
		t.Logf("dapr run stopped %s after Ctrl-C (exit: %v)", time.Since(stopAt).Round(time.Millisecond), exitErr)
	case <-time.After(2 * time.Minute):
		t.Fatal("dapr run still running 2 minutes after Ctrl-C")
	}
	assert.Eventually(t, func() bool { return len(leftovers(rf)) == 0 }, 30*time.Second, 250*time.Millisecond,
		"processes of the run outlived the CLI: %v", leftovers(rf))

	// Nothing written outside the repository's data dir: name resolution
	// in .data/cli, none at the filesystem root, no unexpanded folders.
	assert.FileExists(t, filepath.Join(dataDir, "nameresolution.db"))
	assert.Equal(t, rootDBBefore, modTime(rootDB), "daprd wrote %s", rootDB)
	stray, _ := filepath.Glob(filepath.Join(repoRoot, "services", "*", "${*"))
	assert.Empty(t, stray, "folders named after unexpanded placeholders")
}

// leftovers are the live processes working in an app's folder: what the
// CLI started (an app, or a daprd, which it starts there too).
func leftovers(rf *runner.RunFile) []int {
	dirs := map[string]bool{}
	for _, a := range rf.Apps {
		dirs[a.AppDirPath] = true
	}
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || !dirs[cwd] {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && bytes.Contains(stat, []byte(") Z ")) {
			continue // a zombie: exited, waiting for its parent
		}
		pids = append(pids, pid)
	}
	return pids
}

func modTime(path string) time.Time {
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

type client struct {
	t     *testing.T
	base  string
	token string
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) field(t *testing.T, name string) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(a.body, &m), "%s", a.body)
	s, _ := m[name].(string)
	return s
}

func (c *client) call(method, path string, body any) answer {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, rd)
	require.NoError(c.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(c.t, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// smsCode waits for the verification text to phone, a file the sms
// binding writes under dir.
func smsCode(t *testing.T, dir, phone string) string {
	t.Helper()
	var code string
	require.Eventually(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, phone+"_phone-code-*.txt"))
		sort.Strings(files)
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				if m := sixDigits.FindStringSubmatch(string(b)); m != nil {
					code = m[1]
				}
			}
		}
		return code != ""
	}, time.Minute, 100*time.Millisecond, "no verification text for %s under %s", phone, dir)
	return code
}

// printLogs shows the CLI's output and the last lines of every app's and
// sidecar's log, which the CLI writes under services/<app>/.dapr/logs.
func printLogs(t *testing.T, cliLog string, rf *runner.RunFile) {
	if b, err := os.ReadFile(cliLog); err == nil {
		t.Logf("--- dapr run output ---\n%s", tail(b, 60))
	}
	for _, a := range rf.Apps {
		logs, _ := filepath.Glob(filepath.Join(a.AppDirPath, ".dapr", "logs", "*.log"))
		sort.Strings(logs)
		if len(logs) > 2 {
			logs = logs[len(logs)-2:] // this run's app and daprd logs
		}
		for _, l := range logs {
			if b, err := os.ReadFile(l); err == nil {
				t.Logf("--- %s ---\n%s", filepath.Base(l), tail(b, 25))
			}
		}
	}
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
