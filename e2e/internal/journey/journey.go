// Package journey is a customer of a deployed system, as the Compose and
// Kubernetes tests drive it from outside: sign-up with the code from the
// SMS outbox, purchases with webhooks, their statuses and the voucher
// list, every answer checked against the API contract.
package journey

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api"
)

var spec = api.MustLoad()

// System is a deployment as its customers and the test see it.
type System struct {
	// Gateway is the public API's base URL.
	Gateway string
	// Texts returns every text sent so far, by its file's name in the sms
	// outbox.
	Texts func() (map[string]string, error)
	// Received returns the webhooks the test's receiver took.
	Received func() ([]Delivery, error)
	// ProviderOrders returns how many codes the provider fake issued for
	// each request.
	ProviderOrders func() (map[string]int, error)
}

// Customer is a person using the public API.
type Customer struct {
	// T is the test the customer fails; a later subtest sets its own.
	T        *testing.T
	sys      *System
	Name     string
	Phone    string
	token    string
	mu       sync.Mutex
	Requests []string // request ids bought
}

const password = "a long enough password"

var seq atomic.Int64

// Phone returns a number no other customer of this run has (each run
// starts on empty stores); its last digit picks the provider fake's mode
// (0 immediate, 6 very late).
func Phone(lastDigit int) string {
	return fmt.Sprintf("+8490%06d%d", seq.Add(1), lastDigit)
}

// Name returns a username no other customer of this run has.
func Name(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, seq.Add(1))
}

// Answer is an HTTP answer, read whole.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do calls the API as the customer and checks the answer against the
// contract.
func (c *Customer) Do(method, path string, body any) Answer {
	c.T.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(c.T, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.sys.Gateway+path, rd)
	require.NoError(c.T, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(c.T, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_, err = spec.CheckAnswer(req, resp.StatusCode, resp.Header, b)
	assert.NoError(c.T, err, "contract: %s %s: %s", method, path, b)
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Decode reads the answer's JSON into v.
func (a Answer) Decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(a.Body, v), "decode %s", a.Body)
}

// SignUp makes an account and verifies its phone with the code read from
// the SMS outbox.
func SignUp(t *testing.T, sys *System, name, number string) *Customer {
	c := &Customer{T: t, sys: sys, Name: name, Phone: number}
	r := c.Do("POST", "/user/sign-up", map[string]string{"username": name, "phoneNumber": number, "password": password})
	require.Equal(t, http.StatusCreated, r.Status, "sign-up: %s", r.Body)
	var tok struct{ AccessToken string }
	r.Decode(t, &tok)
	c.token = tok.AccessToken
	code := sys.SMSText(t, func(name string) bool { return strings.HasPrefix(name, number+"_phone-code-") }, sixDigits)
	r = c.Do("POST", "/user/phone/verify", map[string]string{"code": code})
	require.Equal(t, http.StatusOK, r.Status, "verify: %s", r.Body)
	return c
}

// SignIn starts a new session.
func (c *Customer) SignIn() {
	c.T.Helper()
	r := c.Do("POST", "/user/sign-in", map[string]string{"username": c.Name, "password": password})
	require.Equal(c.T, http.StatusOK, r.Status, "sign-in: %s", r.Body)
	var tok struct{ AccessToken string }
	r.Decode(c.T, &tok)
	c.token = tok.AccessToken
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// SMSText waits for a text whose file name matches and returns what re
// finds in it (its first group), or the whole text when re is nil.
func (sys *System) SMSText(t *testing.T, match func(name string) bool, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		texts, err := sys.Texts()
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
			t.Fatalf("no such text in the SMS outbox after a minute (%d texts there)", len(texts))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// RequestView is a purchase request's status.
type RequestView struct {
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

// TryBuy is a purchase from any goroutine, with a webhook to callback
// when it is not empty: it fails nothing itself, and tells what went
// wrong. It returns the request's status location.
func (c *Customer) TryBuy(callback string) (string, error) {
	body := map[string]string{"phoneNumber": c.Phone}
	if callback != "" {
		body["callbackUrl"] = callback
	}
	b, err := json.Marshal(body)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequest("POST", c.sys.Gateway+"/voucher", bytes.NewReader(b))
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
	var v RequestView
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	c.mu.Lock()
	c.Requests = append(c.Requests, v.RequestID)
	c.mu.Unlock()
	return resp.Header.Get("Location"), nil
}

// Buy asks for a voucher and returns its status location.
func (c *Customer) Buy(callbackURL string) string {
	c.T.Helper()
	body := map[string]string{"phoneNumber": c.Phone}
	if callbackURL != "" {
		body["callbackUrl"] = callbackURL
	}
	r := c.Do("POST", "/voucher", body)
	require.Equal(c.T, http.StatusAccepted, r.Status, "purchase: %s", r.Body)
	var v RequestView
	r.Decode(c.T, &v)
	c.Requests = append(c.Requests, v.RequestID)
	return r.Header.Get("Location")
}

// WaitDelivered polls a request until it is final and its delivery has
// an outcome. The bound is generous: a loaded machine must not fail it.
func (c *Customer) WaitDelivered(location string) RequestView {
	c.T.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var v RequestView
		r := c.Do("GET", location, nil)
		require.Equal(c.T, http.StatusOK, r.Status, "GET %s: %s", location, r.Body)
		r.Decode(c.T, &v)
		if v.State != 0 && v.Delivery != nil && v.Delivery.Status != "PENDING" {
			return v
		}
		if time.Now().After(deadline) {
			c.T.Fatalf("request %s not delivered after 3 minutes: %s", v.RequestID, r.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Vouchers is the customer's list: request id → code.
func (c *Customer) Vouchers() map[string]string {
	c.T.Helper()
	r := c.Do("GET", "/voucher?phoneNumber="+url.QueryEscape(c.Phone), nil)
	require.Equal(c.T, http.StatusOK, r.Status, "list: %s", r.Body)
	var l struct {
		Vouchers []struct {
			RequestID   string `json:"requestId"`
			VoucherCode string `json:"voucherCode"`
		} `json:"vouchers"`
	}
	r.Decode(c.T, &l)
	got := map[string]string{}
	for _, v := range l.Vouchers {
		got[v.RequestID] = v.VoucherCode
	}
	return got
}

// Delivery is a webhook as the receiver took it.
type Delivery struct {
	Path   string      `json:"path"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
	At     time.Time   `json:"at"`
}

// Walk is a customer's journey: sign-up, the code by SMS, verify, a
// purchase with a webhook to hook (a URL of the test's receiver), its
// status, the signed webhook and the list. It returns the customer.
func Walk(t *testing.T, sys *System, prefix, hook string) *Customer {
	c := SignUp(t, sys, Name(prefix), Phone(0))
	var secret struct{ Secret string }
	c.Do("GET", "/user/webhook-secret", nil).Decode(t, &secret)
	require.NotEmpty(t, secret.Secret)

	final := c.WaitDelivered(c.Buy(hook))
	assert.Equal(t, "SUCCESS", final.Status)
	assert.Equal(t, 1, final.State)
	assert.Equal(t, 100, final.Progress)
	require.NotEmpty(t, final.VoucherCode)
	assert.Equal(t, "webhook", final.Delivery.Channel, "delivery: %+v", final.Delivery)
	assert.Equal(t, "DELIVERED", final.Delivery.Status, "delivery: %+v", final.Delivery)

	received, err := sys.Received()
	require.NoError(t, err)
	var got []Delivery
	for _, d := range received {
		if strings.HasSuffix(hook, d.Path) {
			got = append(got, d)
		}
	}
	require.NotEmpty(t, got, "the receiver got no webhook at %s", hook)
	d := got[0]
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret.Secret, "whsec_"))
	require.NoError(t, err)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(d.Header.Get("Webhook-Id") + "." + d.Header.Get("Webhook-Timestamp") + "." + d.Body))
	assert.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)), d.Header.Get("Webhook-Signature"), "the webhook's signature")
	assert.NoError(t, spec.CheckSchema("WebhookPayload", []byte(d.Body)))
	assert.Contains(t, d.Body, final.VoucherCode)

	assert.Equal(t, map[string]string{final.RequestID: final.VoucherCode}, c.Vouchers())
	return c
}

// LateSuccess: the provider answers after LATE_AFTER; the code comes as
// LATE_SUCCESS, by SMS, with the design's words.
func LateSuccess(t *testing.T, sys *System) {
	c := SignUp(t, sys, Name("late"), Phone(6))
	final := c.WaitDelivered(c.Buy(""))
	assert.Equal(t, "LATE_SUCCESS", final.Status)
	assert.Equal(t, 1, final.State)
	require.NotEmpty(t, final.VoucherCode)
	assert.Equal(t, "sms", final.Delivery.Channel)
	text := sys.SMSText(t, func(name string) bool {
		return strings.HasPrefix(name, c.Phone+"_") && strings.Contains(name, final.RequestID)
	}, nil)
	assert.Contains(t, text, final.VoucherCode)
	assert.Contains(t, text, "Thank you for your patience, your voucher code is ready.")
}

// Bought is one purchase of BuyPaced.
type Bought struct {
	Buyer    *Customer
	Location string
	Sent     time.Time
	Err      error
}

// BuyPaced makes n purchases, one every interval, each in a goroutine of
// its own, the buyers taking turns; callback(i), when given, is the i-th's
// webhook, and before(i), when given, runs before the i-th is sent. It
// returns when every one has its answer.
func BuyPaced(buyers []*Customer, n int, every time.Duration, callback func(i int) string, before func(i int)) []Bought {
	results := make([]Bought, n)
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
			loc, err := b.TryBuy(hook)
			results[i] = Bought{b, loc, sent, err}
		}()
	}
	wg.Wait()
	return results
}

// CrashDuringBurst makes n purchases from two customers, one every 40 ms,
// and calls crash once a third of them are sent: some are done, some in
// flight, and the rest arrive while the crashed part is down. After
// recovered returns, every purchase must end SUCCESS (LATE_SUCCESS if it
// waited past LATE_AFTER) with a code of its own, be listed, and have had
// exactly one code issued by the provider.
func CrashDuringBurst(t *testing.T, sys *System, n int, crash, recovered func()) {
	buyers := []*Customer{
		SignUp(t, sys, Name("burst"), Phone(0)),
		SignUp(t, sys, Name("burst"), Phone(0)),
	}
	results := BuyPaced(buyers, n, 40*time.Millisecond, nil, func(i int) {
		if i == n/3 {
			crash()
		}
	})
	for _, r := range results {
		require.NoError(t, r.Err)
	}
	recovered()

	codes := map[string]string{}
	late := 0
	for _, r := range results {
		v := r.Buyer.WaitDelivered(r.Location)
		// A purchase that waited past LATE_AFTER for the crashed part
		// ends LATE_SUCCESS, its code sent by SMS: late, not lost.
		assert.Contains(t, []string{"SUCCESS", "LATE_SUCCESS"}, v.Status, "request %s", v.RequestID)
		assert.Equal(t, 1, v.State, "request %s", v.RequestID)
		if v.Status == "LATE_SUCCESS" {
			late++
		}
		if prev, dup := codes[v.VoucherCode]; dup {
			t.Errorf("code %s issued to %s and %s", v.VoucherCode, prev, v.RequestID)
		}
		codes[v.VoucherCode] = v.RequestID
	}
	listed := 0
	for _, b := range buyers {
		l := b.Vouchers()
		listed += len(l)
		for _, rid := range b.Requests {
			assert.NotEmpty(t, l[rid], "request %s is not in %s's list", rid, b.Phone)
		}
	}
	issued, err := sys.ProviderOrders()
	require.NoError(t, err)
	twice := 0
	for _, b := range buyers {
		for _, rid := range b.Requests {
			if issued[rid] != 1 {
				twice++
				t.Errorf("request %s: the provider issued %d codes", rid, issued[rid])
			}
		}
	}
	t.Logf("measured: %d purchases with a crash: %d with distinct codes (%d of them LATE_SUCCESS), %d listed, %d with other than one code issued", n, len(codes), late, listed, twice)
	assert.Len(t, codes, n)
	assert.Equal(t, n, listed)
}

// ProviderOrders reads the provider fake's orders through its test
// control at base (its app's address), with its app token.
func ProviderOrders(base, token string) (map[string]int, error) {
	req, err := http.NewRequest("GET", base+"/api/orders", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("dapr-api-token", token)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("provider orders: %s", resp.Status)
	}
	var orders []struct {
		RequestID   string `json:"requestId"`
		CodesIssued int    `json:"codesIssued"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&orders); err != nil {
		return nil, err
	}
	got := map[string]int{}
	for _, o := range orders {
		got[o.RequestID] = o.CodesIssued
	}
	return got, nil
}

// Percentiles reads p50, p95, p99 and the maximum of ds.
func Percentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "(none)"
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	return fmt.Sprintf("p50 %s, p95 %s, p99 %s, max %s", ms(at(0.50)), ms(at(0.95)), ms(at(0.99)), ms(ds[len(ds)-1]))
}
