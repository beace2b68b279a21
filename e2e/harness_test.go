// Package e2e runs the whole system through the local runner (real daprd
// sidecars, the embedded broker, the provider fake) and drives it over HTTP
// as a customer would.
package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/e2e/internal/repo"
	"github.com/bankabc/vouchers/tools/runner"
)

// sys is the system every test of the package shares; dataDir is its data
// dir (the SMS binding writes its files under sms/).
var (
	sys     *runner.System
	dataDir string
)

// scaled are the durations of the suite's system: the design's 3 s, 30 s and
// deadlines, scaled down so every provider mode settles in seconds. The gaps
// are wide on purpose: the slowest on-time path (provider 5xx for 2 s, then
// the reconciler on its 1 s cron) lands about 4.5 s after the request, far
// from LATE_AFTER, so a loaded machine does not turn SUCCESS into LATE_SUCCESS.
var scaled = map[string]string{
	// voucher-int
	"PROVIDER_TIMEOUT":  "1s",
	"LATE_AFTER":        "10s",
	"ORDER_DEADLINE":    "20s",
	"RECONCILE_RECHECK": "300ms",
	// voucher-provider
	"ACK_AFTER":                "200ms",
	"LATE_CALLBACK_AFTER":      "1500ms",
	"VERY_LATE_CALLBACK_AFTER": "13s",
	"RECOVER_AFTER":            "2s",
	// gateway. WEBHOOK_TIMEOUT and SESSION_IDLE_TIMEOUT are not scaled as
	// far as the rest: a receiver, a sidecar restart or a sign-up's SMS
	// that a loaded machine holds up for a few seconds must not look like
	// a failure (on CI a session once ended during a sidecar restart).
	"WEBHOOK_RETRY_SCHEDULE": "200ms,400ms,600ms",
	"WEBHOOK_TIMEOUT":        "5s",
	"SESSION_IDLE_TIMEOUT":   sessionIdle.String(),
	"PHONE_CODE_COOLDOWN":    "1s",
	"REDRIVE_AFTER":          "5s",
	"OUTBOX_RELAY_AFTER":     "2s",
	"SMS_CONFIRM_AFTER":      "4s",
	// Every request of the suite comes from this machine's one address:
	// the account-wide lock (20 failures from all clients) is brought
	// below the per-client one (5), so that a test can reach it.
	"LOCK_ACCOUNT_AFTER_FAILURES": "3",
}

// sessionIdle is the suite's SESSION_IDLE_TIMEOUT (10 min in production).
const sessionIdle = 20 * time.Second

// repoRoot is the folder holding go.work.
var repoRoot = repo.Root()

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if faultsOnly {
		code := m.Run()
		printFaultTable()
		return code
	}
	var err error
	dataDir, err = os.MkdirTemp("", "vouchers-e2e-")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	logPath := filepath.Join(dataDir, "system.log")
	fmt.Printf("e2e: profile %s, %d instance(s) of each service\n", profile(), replicas())
	s, release, err := startSystem(dataDir, logPath, scaled, nil)
	if err != nil {
		fmt.Println("e2e: could not start the system:", err)
		printTail(logPath, 80)
		return 1
	}
	sys = s
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" {
		code = reportContractCoverage()
	}
	sys.Stop() // also on failure: nothing may outlive the suite
	if err := release(); err != nil {
		fmt.Println("e2e:", err)
		code = 1
	}
	if code != 0 {
		printTail(logPath, 150)
		fmt.Println("e2e: full system log kept at", logPath)
	} else {
		_ = os.RemoveAll(dataDir)
	}
	return code
}

// startSystem starts every app of dapr.yaml with free ports, on the
// suite's profile, in a space of its own on the profile's shared servers;
// env reaches every app (tests scale durations down with it), vars fill
// the placeholders of the components and the Configuration. release,
// called after Stop, removes that space.
func startSystem(dataDir, logPath string, env, vars map[string]string) (s *runner.System, release func() error, err error) {
	daprd := filepath.Join(repoRoot, ".bin", "daprd")
	for _, f := range []string{daprd, filepath.Join(repoRoot, "bin", "gateway")} {
		if _, err := os.Stat(f); err != nil {
			return nil, nil, fmt.Errorf("%s is missing: run `make test-e2e`, which builds daprd and the services first", f)
		}
	}
	out, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	iso, err := isolate(profile())
	if err != nil {
		return nil, nil, err
	}
	for k, v := range profileEnv[profile()] {
		iso.vars[k] = v
	}
	for k, v := range vars {
		iso.vars[k] = v
	}
	s, err = runner.Start(context.Background(), runner.Options{
		RunFile:      filepath.Join(repoRoot, "dapr.yaml"),
		Profile:      profile(),
		DataDir:      dataDir,
		Daprd:        daprd,
		FreePorts:    true,
		Vars:         iso.vars,
		ProxyBroker:  true,
		Output:       out,
		StartTimeout: 3 * time.Minute,
		Env:          env,
		Logf:         func(f string, a ...any) { fmt.Fprintf(out, "runner | "+f+"\n", a...) },
		Replicas:     replicas(),
		AppReplicas:  map[string]int{"voucher-provider": 1}, // a third party's server, one
	})
	if err != nil {
		_ = iso.close()
		return nil, nil, err
	}
	return s, iso.close, nil
}

// profileEnv scales the profiles' own timing down, as scaled does the
// apps': a message left unacknowledged by a killed sidecar comes back in
// 20 s, not a minute. Not less: the outbox's handler alone can take 11 s,
// and a shorter timeout redelivers messages still being handled until the
// redeliveries crowd out everything else (seen with 10 s).
var profileEnv = map[string]map[string]string{
	"redis": {"REDIS_PROCESSING_TIMEOUT": "20s", "REDIS_REDELIVER_INTERVAL_MS": "1000"},
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
	fmt.Printf("--- last %d lines of the system log ---\n%s\n", len(lines), strings.Join(lines, "\n"))
}

// client is a customer of the public API.
type client struct {
	t     *testing.T
	base  string
	token string
	// dataDir is where its system's SMS binding writes; "" for sys's.
	dataDir string
}

func newClient(t *testing.T) *client {
	return &client{t: t, base: sys.PublicURL("gateway")}
}

// sidecarCall calls an app's sidecar API directly (a test's own publish or
// state read), with the token the sidecar asks for.
func sidecarCall(app, method, path string, body string) (*http.Response, error) {
	req, err := http.NewRequest(method, sys.SidecarURL(app)+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("dapr-api-token", sys.DaprToken(app))
	return http.DefaultClient.Do(req)
}

// response is an HTTP answer with its body decoded as JSON when it is JSON.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "decode %s", r.Body)
}

func (c *client) do(method, path string, body any, header map[string]string) response {
	c.t.Helper()
	r, err := c.try(method, path, body, header)
	require.NoError(c.t, err, "%s %s", method, path)
	return r
}

// try is do without failing the test on a transport error: during a fault,
// connections are refused.
func (c *client) try(method, path string, body any, header map[string]string) (response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	assert.NoError(c.t, checkContract(req, resp.StatusCode, resp.Header, b), "contract\nbody: %s", b)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// password is every test account's password.
const password = "a long enough password"

// signUp makes a fresh account for phone, keeps its token, and verifies the
// phone with the code from the SMS, read where the sms binding wrote it.
func (c *client) signUp(username, phone string) {
	c.t.Helper()
	c.signUpOnly(username, phone)
	r := c.do("POST", "/user/phone/verify", map[string]string{"code": c.smsCode(phone)}, nil)
	require.Equal(c.t, http.StatusOK, r.Status, "verify: %s", r.Body)
}

// signUpOnly makes the account and keeps its token; the phone stays
// unverified.
func (c *client) signUpOnly(username, phone string) {
	c.t.Helper()
	r := c.do("POST", "/user/sign-up", map[string]string{"username": username, "phoneNumber": phone, "password": password}, nil)
	require.Equal(c.t, http.StatusCreated, r.Status, "sign-up: %s", r.Body)
	var tok struct{ AccessToken string }
	r.json(c.t, &tok)
	c.token = tok.AccessToken
}

// signIn takes a new token for username, as a customer does when the old
// session has ended.
func (c *client) signIn(username string) {
	c.t.Helper()
	r := c.do("POST", "/user/sign-in", map[string]string{"username": username, "password": password}, nil)
	require.Equal(c.t, http.StatusOK, r.Status, "sign-in: %s", r.Body)
	var tok struct{ AccessToken string }
	r.json(c.t, &tok)
	c.token = tok.AccessToken
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// smsCode waits for the newest verification SMS to phone and returns its code.
func (c *client) smsCode(phone string) string {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		dir := cmp.Or(c.dataDir, dataDir)
		files, _ := filepath.Glob(filepath.Join(dir, "sms", phone+"_phone-code-*.txt"))
		if len(files) > 0 {
			sort.Slice(files, func(i, j int) bool { return seqOf(files[i]) < seqOf(files[j]) })
			b, err := os.ReadFile(files[len(files)-1])
			if err == nil {
				if m := sixDigits.FindStringSubmatch(string(b)); m != nil {
					return m[1]
				}
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no verification SMS for %s", phone)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// seqOf reads the code's sequence number from phone-code-<user>-<seq>.txt.
func seqOf(file string) int {
	base := strings.TrimSuffix(filepath.Base(file), ".txt")
	n, _ := strconv.Atoi(base[strings.LastIndex(base, "-")+1:])
	return n
}

// requestView is gateway's view of a purchase request.
type requestView struct {
	RequestID   string `json:"requestId"`
	Status      string `json:"status"`
	State       int    `json:"state"`
	Progress    int    `json:"progress"`
	Message     string `json:"message"`
	PhoneNumber string `json:"phoneNumber"`
	VoucherCode string `json:"voucherCode"`
	Reason      string `json:"reason"`
	CreatedAt   string `json:"createdAt"`
	Delivery    *struct {
		Channel     string `json:"channel"`
		Status      string `json:"status"`
		Attempts    int    `json:"attempts"`
		FellBack    bool   `json:"fellBackToSms"`
		LastError   string `json:"lastError"`
		DeliveredAt string `json:"deliveredAt"`
	} `json:"delivery"`
}

// waitFinal polls the request until it leaves state 0. The bound is generous
// on purpose: the suite must not be flaky on a loaded machine.
func (c *client) waitFinal(location string) requestView {
	c.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r := c.do("GET", location, nil, nil)
		require.Equal(c.t, http.StatusOK, r.Status, "GET %s: %s", location, r.Body)
		var v requestView
		r.json(c.t, &v)
		if v.State != 0 {
			return v
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("request %s still %s after 2 minutes", v.RequestID, v.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var phoneCounter atomic.Int64

// uniquePhone returns a valid Vietnamese mobile number (+8490…) that no other
// test of this run uses; its last digit picks the provider fake's mode, as a
// payment sandbox's test cards do (0: immediate).
func uniquePhone(lastDigit int) string {
	return fmt.Sprintf("+8490%06d%d", phoneCounter.Add(1), lastDigit)
}

// uniqueName returns a username no other test of this run uses.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, phoneCounter.Add(1))
}
