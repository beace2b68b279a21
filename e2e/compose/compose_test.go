package compose

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api"
)

var spec = api.MustLoad()

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

	var first *customer
	ok := t.Run("journey", func(t *testing.T) { first = journey(t, s) })
	ok = ok && t.Run("late_success_by_sms", func(t *testing.T) { lateSuccess(t, s) })
	ok = ok && t.Run("forged_calls_from_the_network", func(t *testing.T) { forged(t, s, first) })
	ok = ok && t.Run("crash_during_a_burst_loses_nothing", func(t *testing.T) { crashDuringBurst(t, s) })
	ok = ok && t.Run("steady_load", func(t *testing.T) { steadyLoad(t, s) })
	ok = ok && t.Run("restart_keeps_accounts_and_vouchers", func(t *testing.T) { restart(t, s, first) })
	if ok {
		t.Run("down_leaves_nothing", func(t *testing.T) { down(t, s) })
	}
}

// customer is a person using the public API from the host.
type customer struct {
	t        *testing.T
	s        *stack
	name     string
	phone    string
	token    string
	mu       sync.Mutex
	requests []string // request ids bought
}

const password = "a long enough password"

var seq atomic.Int64

// phone returns a number no other customer of this run has (each run
// starts on empty volumes); its last digit picks the provider fake's mode
// (0 immediate, 6 very late).
func phone(lastDigit int) string {
	return fmt.Sprintf("+8490%06d%d", seq.Add(1), lastDigit)
}

// name returns a username no other customer of this run has.
func name(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, seq.Add(1))
}

type answer struct {
	Status int
	Header http.Header
	Body   []byte
}

func (c *customer) do(method, path string, body any) answer {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.s.gateway+path, rd)
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
	_, err = spec.CheckAnswer(req, resp.StatusCode, resp.Header, b)
	assert.NoError(c.t, err, "contract: %s %s: %s", method, path, b)
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(a.Body, v), "decode %s", a.Body)
}

// signUp makes an account and verifies its phone with the code read from
// the sms container's output (the localstorage binding's files).
func signUp(t *testing.T, s *stack, name, number string) *customer {
	c := &customer{t: t, s: s, name: name, phone: number}
	r := c.do("POST", "/user/sign-up", map[string]string{"username": name, "phoneNumber": number, "password": password})
	require.Equal(t, http.StatusCreated, r.Status, "sign-up: %s", r.Body)
	var tok struct{ AccessToken string }
	r.decode(t, &tok)
	c.token = tok.AccessToken
	code := s.smsText(t, func(name string) bool { return strings.HasPrefix(name, number+"_phone-code-") }, sixDigits)
	r = c.do("POST", "/user/phone/verify", map[string]string{"code": code})
	require.Equal(t, http.StatusOK, r.Status, "verify: %s", r.Body)
	return c
}

func (c *customer) signIn() {
	c.t.Helper()
	r := c.do("POST", "/user/sign-in", map[string]string{"username": c.name, "password": password})
	require.Equal(c.t, http.StatusOK, r.Status, "sign-in: %s", r.Body)
	var tok struct{ AccessToken string }
	r.decode(c.t, &tok)
	c.token = tok.AccessToken
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// smsText waits for a text whose file name matches and returns what re
// finds in it (its first group), or the whole text when re is nil.
func (s *stack) smsText(t *testing.T, match func(name string) bool, re *regexp.Regexp) string {
	t.Helper()
	id, err := s.container("sms-dapr")
	require.NoError(t, err)
	deadline := time.Now().Add(time.Minute)
	for {
		texts, err := files(id, "/data/sms")
		require.NoError(t, err)
		var names []string
		for name := range texts {
			if match(name) {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		if len(names) > 0 {
			text := texts[names[len(names)-1]]
			if re == nil {
				return text
			}
			if m := re.FindStringSubmatch(text); m != nil {
				return m[1]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no text in the sms container after a minute (%d texts there)", len(texts))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type requestView struct {
	RequestID   string `json:"requestId"`
	Status      string `json:"status"`
	State       int    `json:"state"`
	Progress    int    `json:"progress"`
	VoucherCode string `json:"voucherCode"`
	Delivery    *struct {
		Channel string `json:"channel"`
		Status  string `json:"status"`
	} `json:"delivery"`
}

// tryBuy is a purchase from any goroutine, with a webhook to callback
// when it is not empty: it fails nothing itself, and tells what went wrong.
func (c *customer) tryBuy(callback string) (string, error) {
	body := map[string]string{"phoneNumber": c.phone}
	if callback != "" {
		body["callbackUrl"] = callback
	}
	b, err := json.Marshal(body)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequest("POST", c.s.gateway+"/voucher", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("purchase: %d %s", resp.StatusCode, b)
	}
	var v requestView
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	c.mu.Lock()
	c.requests = append(c.requests, v.RequestID)
	c.mu.Unlock()
	return resp.Header.Get("Location"), nil
}

// buy asks for a voucher and returns its status location.
func (c *customer) buy(callbackURL string) string {
	c.t.Helper()
	body := map[string]string{"phoneNumber": c.phone}
	if callbackURL != "" {
		body["callbackUrl"] = callbackURL
	}
	r := c.do("POST", "/voucher", body)
	require.Equal(c.t, http.StatusAccepted, r.Status, "purchase: %s", r.Body)
	var v requestView
	r.decode(c.t, &v)
	c.requests = append(c.requests, v.RequestID)
	return r.Header.Get("Location")
}

// waitDelivered polls a request until it is final and its delivery has an
// outcome. The bound is generous: a loaded machine must not fail it.
func (c *customer) waitDelivered(location string) requestView {
	c.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var v requestView
		r := c.do("GET", location, nil)
		require.Equal(c.t, http.StatusOK, r.Status, "GET %s: %s", location, r.Body)
		r.decode(c.t, &v)
		if v.State != 0 && v.Delivery != nil && v.Delivery.Status != "PENDING" {
			return v
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("request %s not delivered after 3 minutes: %s", v.RequestID, r.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type voucherList struct {
	Vouchers []struct {
		RequestID   string `json:"requestId"`
		VoucherCode string `json:"voucherCode"`
	} `json:"vouchers"`
}

func (c *customer) vouchers() map[string]string {
	c.t.Helper()
	r := c.do("GET", "/voucher?phoneNumber="+url.QueryEscape(c.phone), nil)
	require.Equal(c.t, http.StatusOK, r.Status, "list: %s", r.Body)
	var l voucherList
	r.decode(c.t, &l)
	got := map[string]string{}
	for _, v := range l.Vouchers {
		got[v.RequestID] = v.VoucherCode
	}
	return got
}

// delivery is a webhook as the peer received it.
type delivery struct {
	Path   string      `json:"path"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
	At     time.Time   `json:"at"`
}

func (s *stack) received(t *testing.T) []delivery {
	t.Helper()
	resp, err := http.Get(s.peer + "/received")
	require.NoError(t, err)
	defer resp.Body.Close()
	var got []delivery
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	return got
}

// journey: sign-up, the code by SMS, verify, a purchase with a webhook to
// a receiver on the Compose network, its status and the list.
func journey(t *testing.T, s *stack) *customer {
	c := signUp(t, s, name("compose"), phone(0))
	var secret struct{ Secret string }
	c.do("GET", "/user/webhook-secret", nil).decode(t, &secret)
	require.NotEmpty(t, secret.Secret)

	hook := fmt.Sprintf("http://peer:8099/hooks/%d", time.Now().UnixNano())
	final := c.waitDelivered(c.buy(hook))
	assert.Equal(t, "SUCCESS", final.Status)
	assert.Equal(t, 1, final.State)
	assert.Equal(t, 100, final.Progress)
	require.NotEmpty(t, final.VoucherCode)
	assert.Equal(t, "webhook", final.Delivery.Channel, "delivery: %+v", final.Delivery)
	assert.Equal(t, "DELIVERED", final.Delivery.Status, "delivery: %+v", final.Delivery)

	var got []delivery
	for _, d := range s.received(t) {
		if strings.HasSuffix(hook, d.Path) {
			got = append(got, d)
		}
	}
	require.NotEmpty(t, got, "the receiver on the Compose network got no webhook")
	d := got[0]
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret.Secret, "whsec_"))
	require.NoError(t, err)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(d.Header.Get("Webhook-Id") + "." + d.Header.Get("Webhook-Timestamp") + "." + d.Body))
	assert.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)), d.Header.Get("Webhook-Signature"), "the webhook's signature")
	assert.NoError(t, spec.CheckSchema("WebhookPayload", []byte(d.Body)))
	assert.Contains(t, d.Body, final.VoucherCode)

	assert.Equal(t, map[string]string{final.RequestID: final.VoucherCode}, c.vouchers())
	return c
}

// lateSuccess: the provider answers after LATE_AFTER (scaled to 10 s); the
// code comes as LATE_SUCCESS, by SMS, with the design's words.
func lateSuccess(t *testing.T, s *stack) {
	c := signUp(t, s, name("late"), phone(6))
	final := c.waitDelivered(c.buy(""))
	assert.Equal(t, "LATE_SUCCESS", final.Status)
	assert.Equal(t, 1, final.State)
	require.NotEmpty(t, final.VoucherCode)
	assert.Equal(t, "sms", final.Delivery.Channel)
	text := s.smsText(t, func(name string) bool {
		return strings.HasPrefix(name, c.phone+"_") && strings.Contains(name, final.RequestID)
	}, nil)
	assert.Contains(t, text, final.VoucherCode)
	assert.Contains(t, text, "Thank you for your patience, your voucher code is ready.")
}

// forged: from a container on the Compose network, the apps' ports and
// the sidecars' APIs are not reachable at all (they listen on their pods'
// loopback), the provider fake's controls need its token, and gateway's
// public port answers 404 for every internal path. The customer's
// purchase is unchanged afterwards.
func forged(t *testing.T, s *stack, victim *customer) {
	victim.t = t // its journey's subtest has ended
	before := victim.vouchers()
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
	assert.Equal(t, before, victim.vouchers(), "the victim's vouchers changed")
	for _, id := range victim.requests {
		var v requestView
		victim.do("GET", "/voucher/requests/"+id, nil).decode(t, &v)
		assert.Equal(t, "SUCCESS", v.Status, "request %s", id)
	}
}

// providerOrders reads the provider fake's orders through its test
// control (its app token, from the Compose token file).
func (s *stack) providerOrders(t *testing.T) map[string]int {
	t.Helper()
	token := tokenOf(t, "voucher-provider", "APP_API_TOKEN")
	req, err := http.NewRequest("GET", s.provider+"/api/orders", nil)
	require.NoError(t, err)
	req.Header.Set("dapr-api-token", token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var orders []struct {
		RequestID   string `json:"requestId"`
		CodesIssued int    `json:"codesIssued"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&orders))
	got := map[string]int{}
	for _, o := range orders {
		got[o.RequestID] = o.CodesIssued
	}
	return got
}

func tokenOf(t *testing.T, app, name string) string {
	t.Helper()
	b, err := os.ReadFile(repoRoot + "/deploy/compose/tokens/" + app + ".env")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+"="); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("%s has no %s", app, name)
	return ""
}

// bought is one purchase of buyPaced.
type bought struct {
	buyer    *customer
	location string
	sent     time.Time
	err      error
}

// buyPaced makes n purchases, one every interval, each in a goroutine of
// its own, the buyers taking turns; callback(i), when given, is the i-th's
// webhook, and before(i), when given, runs before the i-th is sent. It
// returns when every one has its answer.
func buyPaced(buyers []*customer, n int, every time.Duration, callback func(i int) string, before func(i int)) []bought {
	results := make([]bought, n)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var wg sync.WaitGroup
	for i := range n {
		<-tick.C
		if before != nil {
			before(i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := buyers[i%len(buyers)]
			hook := ""
			if callback != nil {
				hook = callback(i)
			}
			sent := time.Now()
			loc, err := b.tryBuy(hook)
			results[i] = bought{b, loc, sent, err}
		}()
	}
	wg.Wait()
	return results
}

// crashDuringBurst: 50 purchases at once from two customers; voucher-int's
// app process is killed (SIGKILL, as the kernel's OOM killer would) while
// they are in flight. Its restart policy brings it back, and every
// purchase ends SUCCESS with one voucher each, none bought twice.
func crashDuringBurst(t *testing.T, s *stack) {
	const n = 50
	buyers := []*customer{
		signUp(t, s, name("burst"), phone(0)),
		signUp(t, s, name("burst"), phone(0)),
	}
	id, err := s.container("voucher-int")
	require.NoError(t, err)
	before, err := inspect(id)
	require.NoError(t, err)
	require.True(t, before.Running)

	// One purchase every 40 ms, so that the crash lands mid-burst: some
	// are done, some in voucher-int's hands, and the rest arrive while it
	// is down and wait in RabbitMQ.
	// The process must be the container's as this machine sees it: with
	// an engine in another PID namespace (rootless, a VM) the number
	// would name some other process here.
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", before.Pid))
	require.NoError(t, err)
	require.Contains(t, string(cg), id, "process %d is not voucher-int's container's on this machine", before.Pid)
	results := buyPaced(buyers, n, 40*time.Millisecond, nil, func(i int) {
		if i == n/3 {
			require.NoError(t, syscall.Kill(before.Pid, syscall.SIGKILL), "kill voucher-int's process")
		}
	})
	for _, r := range results {
		require.NoError(t, r.err)
	}

	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := inspect(id)
		require.NoError(t, err)
		if st.Running && st.RestartCount > before.RestartCount && st.Health == "healthy" {
			t.Logf("measured: voucher-int restarted by its restart policy (restarts %d -> %d), healthy again", before.RestartCount, st.RestartCount)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("voucher-int did not come back: %+v", st)
		}
		time.Sleep(500 * time.Millisecond)
	}

	codes := map[string]string{}
	for _, r := range results {
		v := r.buyer.waitDelivered(r.location)
		assert.Equal(t, "SUCCESS", v.Status, "request %s", v.RequestID)
		if prev, dup := codes[v.VoucherCode]; dup {
			t.Errorf("code %s issued to %s and %s", v.VoucherCode, prev, v.RequestID)
		}
		codes[v.VoucherCode] = v.RequestID
	}
	listed := 0
	for _, b := range buyers {
		l := b.vouchers()
		listed += len(l)
		for _, rid := range b.requests {
			assert.NotEmpty(t, l[rid], "request %s is not in %s's list", rid, b.phone)
		}
	}
	issued := s.providerOrders(t)
	twice := 0
	for _, b := range buyers {
		for _, rid := range b.requests {
			if issued[rid] != 1 {
				twice++
				t.Errorf("request %s: the provider issued %d codes", rid, issued[rid])
			}
		}
	}
	t.Logf("measured: %d purchases with a crash: %d SUCCESS with distinct codes, %d listed, %d with other than one code issued", n, len(codes), listed, twice)
	assert.Len(t, codes, n)
	assert.Equal(t, n, listed)
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
	var buyers []*customer
	for range 4 {
		buyers = append(buyers, signUp(t, s, name("load"), phone(0)))
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
	results := buyPaced(buyers, n, time.Second/time.Duration(rate), hook, nil)
	for _, r := range results {
		require.NoError(t, r.err)
	}
	for _, r := range results {
		assert.Equal(t, "SUCCESS", r.buyer.waitDelivered(r.location).Status)
	}
	stopSampling()
	// From each purchase sent to its webhook's arrival at the receiver.
	arrived := map[string]time.Time{}
	for _, d := range s.received(t) {
		if _, seen := arrived[d.Path]; !seen {
			arrived[d.Path] = d.At
		}
	}
	var lat []time.Duration
	for i, r := range results {
		if at, ok := arrived[strings.TrimPrefix(hook(i), "http://peer:8099")]; ok {
			lat = append(lat, at.Sub(r.sent))
		}
	}
	assert.Len(t, lat, n, "every purchase's webhook arrived")
	t.Logf("measured: %d purchases at %d/s, each with a webhook, all SUCCESS; from purchase to webhook %s; peak RSS meanwhile (MiB): %s", n, rate, percentiles(lat), table(peak))
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// restart: `docker compose restart` of the whole stack keeps accounts,
// sessions' owners and vouchers (named volumes).
func restart(t *testing.T, s *stack, c *customer) {
	c.t = t // its journey's subtest has ended
	before := c.vouchers()
	started := time.Now()
	_, err := s.run(5*time.Minute, "restart", "--timeout", "20")
	require.NoError(t, err)
	require.NoError(t, s.up(), "healthy again after the restart")
	t.Logf("measured: healthy again %.1f s after `docker compose restart`", time.Since(started).Seconds())
	c.signIn()
	assert.Equal(t, before, c.vouchers(), "vouchers after the restart")
	// And the system still sells.
	v := c.waitDelivered(c.buy(""))
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

// percentiles reads p50, p95, p99 and the maximum of ds.
func percentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "(none)"
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	return fmt.Sprintf("p50 %s, p95 %s, p99 %s, max %s", ms(at(0.50)), ms(at(0.95)), ms(at(0.99)), ms(ds[len(ds)-1]))
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
