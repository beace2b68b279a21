package e2e

import (
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
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	successText     = "Thank you for using our services, your voucher code is ready."
	lateSuccessText = "Thank you for your patience, your voucher code is ready."
)

// waitDelivered polls the request until its delivery has an outcome.
func (c *client) waitDelivered(location string) requestView {
	c.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var v requestView
		c.do("GET", location, nil, nil).json(c.t, &v)
		if v.Delivery != nil && v.Delivery.Status != "PENDING" {
			return v
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("request %s not delivered after 2 minutes: %+v", v.RequestID, v.Delivery)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// smsFor returns the text of the SMS the sms service wrote for a message id
// (the localstorage binding: one file per message under the data dir).
func smsFor(t *testing.T, messageID string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		matches, _ := filepath.Glob(filepath.Join(dataDir, "sms", "*_"+messageID+".txt"))
		if len(matches) == 1 {
			b, err := os.ReadFile(matches[0])
			require.NoError(t, err)
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SMS file for %s (found %v)", messageID, matches)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// receiver is a customer's webhook endpoint that verifies Standard Webhooks
// signatures with the account's secret, as the spec tells receivers to.
type receiver struct {
	t      *testing.T
	url    string
	secret string
	fail   bool

	mu       sync.Mutex
	attempts int
	ids      map[string]bool // webhook-ids seen, for deduplication
	payloads []webhookPayload
	badSigs  int
	// offContract lists webhook bodies api/openapi.yaml's WebhookPayload
	// refuses; the test fails on any.
	offContract []string
}

type webhookPayload struct {
	Type string `json:"type"`
	Data struct {
		RequestID   string `json:"requestId"`
		Status      string `json:"status"`
		State       int    `json:"state"`
		VoucherCode string `json:"voucherCode"`
		Message     string `json:"message"`
	} `json:"data"`
}

func newReceiver(t *testing.T, secret string, fail bool) *receiver {
	r := &receiver{t: t, secret: secret, fail: fail, ids: map[string]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: r}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, e := range r.offContract {
			t.Errorf("contract: webhook: %s", e)
		}
	})
	r.url = "http://" + ln.Addr().String() + "/hooks/voucher"
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if r.fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(req.Header.Get("webhook-id") + "." + req.Header.Get("webhook-timestamp") + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(req.Header.Get("webhook-signature"))) {
		r.badSigs++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if err := spec.CheckSchema("WebhookPayload", body); err != nil {
		r.offContract = append(r.offContract, fmt.Sprintf("%v: %s", err, body))
	}
	id := req.Header.Get("webhook-id")
	if !r.ids[id] {
		r.ids[id] = true
		var p webhookPayload
		_ = json.Unmarshal(body, &p)
		r.payloads = append(r.payloads, p)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *client) webhookSecret() string {
	c.t.Helper()
	var s struct{ Secret string }
	c.do("GET", "/user/webhook-secret", nil, nil).json(c.t, &s)
	return s.Secret
}

func (c *client) buy(phone, callbackURL string) string {
	c.t.Helper()
	body := map[string]string{"phoneNumber": phone}
	if callbackURL != "" {
		body["callbackUrl"] = callbackURL
	}
	r := c.do("POST", "/voucher", body, nil)
	require.Equal(c.t, http.StatusAccepted, r.Status, "purchase: %s", r.Body)
	return r.Header.Get("Location")
}

func (c *client) vouchers(phone string) voucherList {
	c.t.Helper()
	var l voucherList
	c.do("GET", "/voucher?phoneNumber="+url.QueryEscape(phone), nil, nil).json(c.t, &l)
	return l
}

// providerControl calls one of the provider fake's test controls, which
// take its app token.
func providerControl(method, path, body string) (*http.Response, error) {
	req, err := http.NewRequest(method, sys.AppURL("voucher-provider")+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("dapr-api-token", sys.AppToken("voucher-provider"))
	return http.DefaultClient.Do(req)
}

func providerOrders(t *testing.T) []providerOrderFull {
	t.Helper()
	resp, err := providerControl("GET", "/api/orders", "")
	require.NoError(t, err)
	defer resp.Body.Close()
	var orders []providerOrderFull
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&orders))
	return orders
}

type providerOrderFull struct {
	RequestID    string `json:"requestId"`
	Mode         string `json:"mode"`
	VoucherCode  string `json:"voucherCode"`
	Calls        int    `json:"calls"`
	CodesIssued  int    `json:"codesIssued"`
	Callbacks    int    `json:"callbacks"`
	CodeVerifier string `json:"codeVerifier"`
}

func providerOrderByID(t *testing.T, id string) (providerOrderFull, bool) {
	for _, o := range providerOrders(t) {
		if o.RequestID == id {
			return o, true
		}
	}
	return providerOrderFull{}, false
}

// TestEachProviderModeEndsRight buys once per provider mode (the phone's
// last digit picks it) and checks the final state, status, progress, code,
// channel, and that the provider issued at most one code.
func TestEachProviderModeEndsRight(t *testing.T) {
	tests := []struct {
		name        string
		digit       int
		withHook    bool
		status      string
		state       int
		channel     string
		text        string
		viaCallback bool
	}{
		{"immediate_without_callback_is_sms", 0, false, "SUCCESS", 1, "sms", successText, false},
		{"immediate_with_callback_is_webhook", 1, true, "SUCCESS", 1, "webhook", "", false},
		{"late_within_limit_is_success_by_webhook", 5, true, "SUCCESS", 1, "webhook", "", true},
		{"very_late_is_late_success_by_sms", 6, true, "LATE_SUCCESS", 1, "sms", lateSuccessText, true},
		{"provider_5xx_then_recovers_is_success", 7, false, "SUCCESS", 1, "sms", successText, false},
		{"provider_hang_then_recovers_is_success", 8, false, "SUCCESS", 1, "sms", successText, false},
		{"provider_down_past_deadline_is_failed", 9, false, "FAILED", 2, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t)
			phone := uniquePhone(tt.digit)
			c.signUp(uniqueName("mode"), phone)
			var hook *receiver
			hookURL := ""
			if tt.withHook {
				hook = newReceiver(t, c.webhookSecret(), false)
				hookURL = hook.url
			}
			loc := c.buy(phone, hookURL)
			v := c.waitFinal(loc)
			require.Equal(t, tt.status, v.Status, "final %+v", v)
			require.Equal(t, tt.state, v.State, "final %+v", v)
			require.Equal(t, 100, v.Progress, "final %+v", v)
			o, found := providerOrderByID(t, v.RequestID)
			if found && o.CodesIssued > 1 {
				t.Fatalf("provider issued %d codes", o.CodesIssued)
			}
			list := c.vouchers(phone)
			if tt.state == 2 {
				assert.NotEmpty(t, v.Reason, "failed request %+v, vouchers %+v", v, list)
				assert.Empty(t, v.VoucherCode, "failed request %+v, vouchers %+v", v, list)
				assert.Empty(t, list.Vouchers, "failed request %+v, vouchers %+v", v, list)
				assert.Nil(t, v.Delivery, "failed request %+v, vouchers %+v", v, list)
				return
			}
			require.True(t, found, "code %s: the provider has no order %s", v.VoucherCode, v.RequestID)
			require.Equal(t, v.VoucherCode, o.VoucherCode, "code %s, provider %+v, listed %+v", v.VoucherCode, o, list)
			require.Len(t, list.Vouchers, 1, "code %s, provider %+v, listed %+v", v.VoucherCode, o, list)
			require.Equal(t, v.VoucherCode, list.Vouchers[0].VoucherCode, "code %s, provider %+v, listed %+v", v.VoucherCode, o, list)
			if tt.viaCallback {
				// The code comes late, by the provider's callback, or by the
				// reconciler's status read when that read comes first: the
				// fake shows the code as it sends the callback, and with two
				// voucher-int instances their passes often get there first
				// (the callback then finds the outcome recorded, 409). Either
				// way it is recorded once, with the provider's code (above).
				require.LessOrEqual(t, o.Callbacks, 1, "callbacks the provider delivered")
				if o.Callbacks == 0 {
					l := waitLog(t, "voucher-int recorded "+v.RequestID+"'s code", func(l logLine) bool {
						return l.App == "voucher-int" && l.Msg == "voucher code recorded" && l.Purchase == v.RequestID
					})
					if l.Via == "callback" {
						// The fake counts a callback once it has the answer,
						// which can come after the code went all the way to
						// gateway: then the count must catch up.
						require.Eventually(t, func() bool {
							o, _ := providerOrderByID(t, v.RequestID)
							return o.Callbacks == 1
						}, 30*time.Second, 100*time.Millisecond, "voucher-int recorded a callback the provider never counted as delivered")
					} else {
						require.Equal(t, "reconciler", l.Via, "no callback was delivered, so the reconciler must have found the code")
					}
				}
			}
			d := c.waitDelivered(loc)
			require.Equal(t, tt.channel, d.Delivery.Channel, "delivered by %+v", d.Delivery)
			switch tt.channel {
			case "sms":
				if text := smsFor(t, "voucher-"+v.RequestID); !strings.HasPrefix(text, tt.text) || !strings.Contains(text, v.VoucherCode) {
					t.Fatalf("SMS %q", text)
				}
			case "webhook":
				hook.mu.Lock()
				defer hook.mu.Unlock()
				require.Len(t, hook.payloads, 1, "webhook receiver got %+v (bad signatures %d)", hook.payloads, hook.badSigs)
				assert.Equal(t, v.VoucherCode, hook.payloads[0].Data.VoucherCode, "webhook receiver got %+v", hook.payloads)
				assert.Equal(t, successText, hook.payloads[0].Data.Message, "webhook receiver got %+v", hook.payloads)
				assert.Zero(t, hook.badSigs, "bad signatures at the webhook receiver")
			}
		})
	}
}

// postCallback sends a late callback straight to voucher-int, as a forger
// on the network would.
func postCallback(t *testing.T, body map[string]string) int {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(sys.PublicURL("voucher-int")+"/api/voucher-code/vps/response", "application/json", strings.NewReader(string(b)))
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestForgedLateCallbacksChangeNothing: a wrong verifier, an unknown
// requestId and a replayed genuine verifier are refused, and the request
// keeps the provider's one code.
func TestForgedLateCallbacksChangeNothing(t *testing.T) {
	c := newClient(t)
	phone := uniquePhone(5) // late: acknowledgement, then callback
	c.signUp(uniqueName("forge"), phone)
	loc := c.buy(phone, "")
	id := strings.TrimPrefix(loc, "/voucher/requests/")

	// Wait for the acknowledgement to be recorded: the provider has the order.
	deadline := time.Now().Add(time.Minute)
	for {
		if _, ok := providerOrderByID(t, id); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the provider never got the order")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The verifiers the fake keeps are not anybody's to read.
	resp, err := http.Get(sys.AppURL("voucher-provider") + "/api/orders")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the provider fake's orders without its token")
	assert.Equal(t, 401, postCallback(t, map[string]string{"requestId": id, "codeVerifier": "forged-verifier-forged-verifier-forged-ver", "voucherCode": "EVIL-EVIL-EVIL", "status": "SUCCESS"}),
		"wrong verifier")
	assert.Equal(t, 401, postCallback(t, map[string]string{"requestId": "no-such-request", "codeVerifier": "x", "voucherCode": "EVIL-EVIL-EVIL", "status": "SUCCESS"}),
		"unknown request")
	v := c.waitFinal(loc)
	o, _ := providerOrderByID(t, id)
	require.Equal(t, "SUCCESS", v.Status, "final %+v, provider %+v", v, o)
	require.Equal(t, o.VoucherCode, v.VoucherCode, "final %+v, provider %+v", v, o)
	require.Equal(t, 1, o.Callbacks, "final %+v, provider %+v", v, o)
	// The genuine verifier, replayed with another code.
	assert.Equal(t, 409, postCallback(t, map[string]string{"requestId": id, "codeVerifier": o.CodeVerifier, "voucherCode": "EVIL-EVIL-EVIL", "status": "SUCCESS"}),
		"replayed verifier")
	after := c.do("GET", loc, nil, nil)
	var again requestView
	after.json(t, &again)
	list := c.vouchers(phone)
	assert.Equal(t, o.VoucherCode, again.VoucherCode, "after forgeries: %+v, list %+v", again, list)
	require.Len(t, list.Vouchers, 1, "after forgeries: %+v, list %+v", again, list)
	assert.Equal(t, o.VoucherCode, list.Vouchers[0].VoucherCode, "after forgeries: %+v, list %+v", again, list)
}

// TestFailingWebhookIsRetriedThenSMS: a receiver that keeps failing gets
// the first attempt and every retry of the schedule, then the code by SMS.
func TestFailingWebhookIsRetriedThenSMS(t *testing.T) {
	c := newClient(t)
	phone := uniquePhone(0)
	c.signUp(uniqueName("hookfail"), phone)
	hook := newReceiver(t, c.webhookSecret(), true)
	loc := c.buy(phone, hook.url)
	v := c.waitDelivered(loc)
	require.Equal(t, "sms", v.Delivery.Channel, "delivery %+v", v.Delivery)
	assert.True(t, v.Delivery.FellBack, "delivery %+v", v.Delivery)
	assert.Equal(t, 4, v.Delivery.Attempts, "delivery %+v", v.Delivery)
	assert.Equal(t, "answered 500", v.Delivery.LastError, "delivery %+v", v.Delivery)
	hook.mu.Lock()
	attempts := hook.attempts
	hook.mu.Unlock()
	assert.Equal(t, 4, attempts, "attempts the receiver saw, want 1 + 3 retries")
	assert.Contains(t, smsFor(t, "voucher-"+v.RequestID), v.VoucherCode, "SMS")
}

// TestSameRequestCodeEventTwiceMakesOneOrder publishes a completed
// request's request-code event again, twice, through a sidecar, waits until
// voucher-int has taken both, and checks the provider saw no new order.
func TestSameRequestCodeEventTwiceMakesOneOrder(t *testing.T) {
	c := newClient(t)
	phone := uniquePhone(0)
	c.signUp(uniqueName("dup"), phone)
	v := c.waitFinal(c.buy(phone, ""))
	before, _ := providerOrderByID(t, v.RequestID)
	taken := eventsTaken(t, "voucher-int", "request-code")

	event := fmt.Sprintf(`{"requestId":%q,"userId":"u","phoneNumber":%q,"requestedAt":%q}`, v.RequestID, phone, time.Now().UTC().Format(time.RFC3339Nano))
	for range 2 {
		resp, err := sidecarCall("gateway", "POST", "/v1.0/publish/pubsub/request-code", event)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNoContent, resp.StatusCode, "publish")
	}
	waitTaken(t, "voucher-int", "request-code", taken+2)
	after, _ := providerOrderByID(t, v.RequestID)
	assert.Equal(t, before.Calls, after.Calls, "provider order before %+v after %+v", before, after)
	assert.Equal(t, 1, after.CodesIssued, "provider order before %+v after %+v", before, after)
	assert.Len(t, c.vouchers(phone).Vouchers, 1, "provider order before %+v after %+v", before, after)
}

// eventsTaken is how many events of topic the app's sidecars have delivered
// to it and settled (handled or dropped), read from daprd's own metrics:
// the same on every broker.
func eventsTaken(t *testing.T, app, topic string) int {
	t.Helper()
	var b []byte
	for _, inst := range sys.Instances(app) { // every instance's sidecar
		resp, err := http.Get(sys.MetricsURL(inst))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		b = append(append(b, body...), '\n')
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "dapr_component_pubsub_ingress_count{") ||
			!strings.Contains(line, `topic="`+topic+`"`) ||
			!(strings.Contains(line, `process_status="success"`) || strings.Contains(line, `process_status="drop"`)) {
			continue
		}
		var v float64
		_, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
		require.NoError(t, err, "metric line %q", line)
		n += int(v)
	}
	return n
}

// waitTaken waits until the app has settled at least want events of topic
// (see eventsTaken).
func waitTaken(t *testing.T, app, topic string, want int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := eventsTaken(t, app, topic)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s settled %d %s events, want %d", app, got, topic, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPoisonEventIsDeadLetteredListedAndReplayed publishes an event its
// subscriber cannot handle, finds it in the operator's dead-letter list, and
// replays it.
func TestPoisonEventIsDeadLetteredListedAndReplayed(t *testing.T) {
	secrets, err := os.ReadFile(filepath.Join(dataDir, "secrets.json"))
	require.NoError(t, err)
	var s struct {
		OpsToken string `json:"ops-token"`
	}
	_ = json.Unmarshal(secrets, &s)
	ops := &client{t: t, base: sys.AppURL("gateway")}
	hdr := map[string]string{"X-Ops-Token": s.OpsToken}
	poisonID := fmt.Sprintf("poison-%d", time.Now().UnixNano())
	poison := fmt.Sprintf(`{"requestId":%q,"phoneNumber":""}`, poisonID)
	resp, err := sidecarCall("gateway", "POST", "/v1.0/publish/pubsub/request-code", poison)
	require.NoError(t, err)
	resp.Body.Close()

	type deadLetter struct {
		ID, Topic string
		Data      json.RawMessage
	}
	find := func() (deadLetter, bool) {
		var list struct{ DeadLetters []deadLetter }
		r := ops.do("GET", "/ops/dead-letters", nil, hdr)
		require.Equal(t, http.StatusOK, r.Status, "list: %s", r.Body)
		r.json(t, &list)
		for _, d := range list.DeadLetters {
			// daprd re-encodes JSON data (key order may change): compare by id.
			var data struct{ RequestID string }
			if json.Unmarshal(d.Data, &data) == nil && data.RequestID == poisonID {
				return d, true
			}
		}
		return deadLetter{}, false
	}
	var dl deadLetter
	deadline := time.Now().Add(time.Minute)
	for {
		var ok bool
		if dl, ok = find(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the poison event never reached the dead-letter list")
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.Equal(t, "request-code", dl.Topic, "dead letter %+v", dl)
	r := ops.do("GET", "/ops/dead-letters", nil, map[string]string{"X-Ops-Token": "guess"})
	assert.Equal(t, http.StatusUnauthorized, r.Status, "list with a wrong operator token")
	r = ops.do("POST", "/ops/dead-letters/"+dl.ID+"/replay", nil, hdr)
	require.Equal(t, http.StatusOK, r.Status, "replay: %s", r.Body)
	// Still poison: replayed, it is dead-lettered again, under a new id.
	deadline = time.Now().Add(time.Minute)
	for {
		if again, ok := find(); ok && again.ID != dl.ID {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the replayed event did not come back as a new dead letter")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestAHangingReceiverDoesNotDelayAnotherCustomersWebhook is issue 28,
// finding 1, end to end: one customer's 100 webhooks go to a receiver that
// accepts connections and never answers. Another customer's receiver
// answers 500 once, then 204: its retry must arrive within the schedule's
// first wait plus 5 s of its first attempt. Before the fix it waited
// minutes behind the hanging ones.
func TestAHangingReceiverDoesNotDelayAnotherCustomersWebhook(t *testing.T) {
	hang := make(chan struct{})
	var hangingNow atomic.Int32
	hanging := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hangingNow.Add(1)
		defer hangingNow.Add(-1)
		select {
		case <-hang:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = hanging.Serve(ln) }()
	t.Cleanup(func() {
		// Answered and gone: the hanging webhooks end in a few fast
		// retries and an SMS each, leaving the suite's system quiet.
		close(hang)
		_ = hanging.Close()
	})
	mallory := newClient(t)
	malloryPhone := uniquePhone(0)
	mallory.signUp(uniqueName("hanging"), malloryPhone)
	hangURL := "http://" + ln.Addr().String() + "/never"
	var locations []string
	for range 100 {
		locations = append(locations, mallory.buy(malloryPhone, hangURL))
	}
	for _, loc := range locations {
		require.Equal(t, 1, mallory.waitFinal(loc).State, "mallory's purchase")
	}
	// Some of mallory's webhooks are past their first attempt, so they are
	// where the sweep looks: the retries alice's must not wait behind.
	waitRetried(t, mallory, locations, 8)

	var mu sync.Mutex
	var attempts []time.Time
	var hangingAtRetry int32
	flaky := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		attempts = append(attempts, time.Now())
		first := len(attempts) == 1
		if !first {
			hangingAtRetry = hangingNow.Load()
		}
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	fl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = flaky.Serve(fl) }()
	t.Cleanup(func() { _ = flaky.Close() })
	alice := newClient(t)
	alicePhone := uniquePhone(0)
	alice.signUp(uniqueName("patient"), alicePhone)
	v := alice.waitDelivered(alice.buy(alicePhone, "http://"+fl.Addr().String()+"/hook"))
	require.Equal(t, "webhook", v.Delivery.Channel, "delivery %+v", v.Delivery)
	require.Equal(t, "DELIVERED", v.Delivery.Status, "delivery %+v", v.Delivery)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, attempts, 2, "attempts: one answered 500, then one delivered")
	firstWait, err := time.ParseDuration(strings.Split(scaled["WEBHOOK_RETRY_SCHEDULE"], ",")[0])
	require.NoError(t, err)
	gap := attempts[1].Sub(attempts[0])
	t.Logf("retry %s after the first attempt, with mallory's webhooks hanging", gap.Round(time.Millisecond))
	assert.LessOrEqual(t, gap, firstWait+5*time.Second, "the retry waited behind another customer's hanging webhooks")
	assert.Positive(t, hangingAtRetry, "none of mallory's webhooks hung at the retry: the case proves nothing")
}

// waitRetried waits until n of the requests' webhooks have had an attempt
// and are still pending.
func waitRetried(t *testing.T, c *client, locations []string, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pending := 0
		for _, loc := range locations {
			var v requestView
			c.do("GET", loc, nil, nil).json(t, &v)
			if v.Delivery != nil && v.Delivery.Status == "PENDING" && v.Delivery.Attempts > 0 {
				pending++
			}
		}
		if pending >= n {
			return
		}
		require.True(t, time.Now().Before(deadline), "%d webhooks pending after an attempt, want %d", pending, n)
		time.Sleep(500 * time.Millisecond)
	}
}
