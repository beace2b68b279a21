package ports

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/kit/work"
	identityadapters "github.com/bankabc/vouchers/services/gateway/internal/identity/adapters"
	identity "github.com/bankabc/vouchers/services/gateway/internal/identity/app"
	identitydomain "github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
	purchaseadapters "github.com/bankabc/vouchers/services/gateway/internal/purchase/adapters"
	purchase "github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
	purchasedomain "github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
	"github.com/bankabc/vouchers/services/gateway/internal/wiring"
)

// fakeVouchers answers for the voucher service with function fields.
type fakeVouchers struct {
	byPhone func(phone string, page purchase.VoucherPage) (purchase.VoucherList, error)
	stored  func(requestID string) (bool, error)
}

func (f fakeVouchers) ByPhone(_ context.Context, phone string, page purchase.VoucherPage) (purchase.VoucherList, error) {
	return f.byPhone(phone, page)
}
func (f fakeVouchers) Stored(_ context.Context, id string) (bool, error) { return f.stored(id) }

// literalGuard applies the real rules to IP literals and lets names pass
// (the names these tests use do not resolve here).
type literalGuard struct{ purchaseadapters.NetGuard }

func (g literalGuard) CheckHost(ctx context.Context, host string) error {
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err != nil {
		return nil
	}
	return g.NetGuard.CheckHost(ctx, host)
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeWebhooks records attempts and answers with a function field.
type fakeWebhooks struct {
	mu       sync.Mutex
	attempts []string
	answer   func(n int) purchasedomain.WebhookResult
}

func (f *fakeWebhooks) Send(_ context.Context, url, id, secret string, body []byte) purchasedomain.WebhookResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts = append(f.attempts, id)
	return f.answer(len(f.attempts))
}

type env struct {
	h          http.Handler
	faces      service.Faces
	routes     http.Handler      // the faces joined, without the middleware
	mem        *testkit.MemState // gateway-store
	dmem       *testkit.MemState // gateway-deliveries
	bus        *testkit.MemState // what is published
	work       *work.Pool        // deliveries started in the background
	clock      *clock
	key        []byte
	vouchers   *fakeVouchers
	webhooks   *fakeWebhooks
	deliveries purchase.Deliveries
	logs       *testkit.Logs
	published  *fakePublisher
	outboxes   daprx.Outboxes
}

// smsConfirmed confirms every SMS (the sms service's answer).
type smsConfirmed struct{}

func (smsConfirmed) Confirmed(context.Context, daprx.OutboxRecord) (bool, error) { return true, nil }

// fakePublisher records what is published.
type fakePublisher struct {
	mu   sync.Mutex
	sent []string
}

func (f *fakePublisher) Publish(_ context.Context, topic, _ string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, topic+" "+string(b))
	return nil
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// testEnv is the configuration of the handler tests: run's defaults, with
// webhook retries scaled down and http callbacks allowed (as locally; the
// https rule has its own test).
var testEnv = map[string]string{
	"APP_API_TOKEN":                   "handler-tests-app-token",
	"WEBHOOK_RETRY_SCHEDULE":          "1s,2s",
	"WEBHOOK_MAX_RETRY_AFTER":         "1m",
	"WEBHOOK_ALLOW_HTTP":              "true",
	"MAX_HASHING_PER_CLIENT":          "4",
	"TEXT_BUDGET_PER_CLIENT_PER_HOUR": "1000",
}

// newEnvWith is newEnv with its Purchases changed first. The graph is
// run's, over in-memory stores and doubles for the outside.
func newEnvWith(t testing.TB, change func(*purchase.Purchases)) *env {
	t.Helper()
	return newEnvFrom(t, nil, change)
}

// newEnvFrom is newEnvWith with settings of its own over testEnv's.
func newEnvFrom(t testing.TB, settings map[string]string, change func(*purchase.Purchases)) *env {
	t.Helper()
	e := &env{mem: testkit.NewMemState(), dmem: testkit.NewMemState(), bus: testkit.NewMemState(), logs: &testkit.Logs{},
		clock: &clock{t: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}, key: []byte(strings.Repeat("k", 32))}
	e.vouchers = &fakeVouchers{
		byPhone: func(phone string, _ purchase.VoucherPage) (purchase.VoucherList, error) {
			return purchase.VoucherList(`{"phoneNumber":"` + phone + `","vouchers":[]}`), nil
		},
		stored: func(string) (bool, error) { return true, nil },
	}
	e.webhooks = &fakeWebhooks{answer: func(int) purchasedomain.WebhookResult { return purchasedomain.WebhookResult{Delivered: true} }}
	vars := maps.Clone(testEnv)
	maps.Copy(vars, settings)
	cfg, err := wiring.LoadConfig(testkit.Env(vars))
	require.NoError(t, err)
	ids := 0
	var mu sync.Mutex
	newID := func() string { mu.Lock(); defer mu.Unlock(); ids++; return "id" + string(rune('a'+ids)) }
	stores := testkit.Stores{Bus: e.bus, ByName: map[string]*testkit.MemState{cfg.StateStore: e.mem, cfg.DeliveryStore: e.dmem}}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := wiring.Build(stores, cfg, wiring.Externals{
		Tokens:    identityadapters.JWT{KeyID: "k1", Key: e.key, Lifetime: cfg.TokenLifetime},
		Vouchers:  e.vouchers,
		SMS:       smsConfirmed{},
		Webhooks:  e.webhooks,
		Callbacks: literalGuard{},
		Hasher:    identityadapters.Argon2id{Time: 1, MemoryK: 64, Threads: 1},
		Now:       e.clock.now,
		NewID:     newID,
	}, log, prometheus.NewRegistry())
	require.NoError(t, err)
	e.outboxes, e.deliveries = g.Outboxes, g.Deliveries
	pur := g.Purchases
	e.work = pur.Work
	if change != nil {
		change(&pur)
	}
	e.published = &fakePublisher{}
	g.DeadLetters.Publisher = e.published
	ops := Ops{Token: "ops-secret", DeadLetters: g.DeadLetters}
	e.faces = Routes{Log: log, Accounts: g.Accounts, Purchases: pur, Ops: ops, Relay: e.outboxes, SweepLease: g.SweepLease}.Faces(context.Background())
	e.routes = joined(e.faces)
	e.h = httpx.Middleware(log, e.routes)
	if _, bench := t.(*testing.B); !bench { // benchmarks measure the gateway alone
		e.h = checkedAgainstSpec(t, e.h)
	}
	return e
}

// joined serves each request from the face whose port it would reach:
// the sidecar's routes, /ops/, and the public API.
func joined(f service.Faces) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/events/") || p == webhookSweepPath || p == requestRedrivePath || p == outboxRelayPath:
			f.Sidecar.ServeHTTP(w, r)
		case strings.HasPrefix(p, "/ops/"):
			f.Operator.ServeHTTP(w, r)
		default:
			f.Public.ServeHTTP(w, r)
		}
	})
}

func (e *env) do(method, path, body string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if strings.HasPrefix(path, "/events/") {
		// What the event handed to the background is done, as it would be
		// by the next look from outside.
		e.work.Idle()
		e.deliveries.Lanes.Idle()
	}
	return rec
}

// sweep is one webhook sweep whose attempts are made before it returns,
// so that its summary counts them (the sweep without Lanes).
func (e *env) sweep(ctx context.Context) (purchase.SweepSummary, error) {
	d := e.deliveries
	d.Lanes = nil
	return d.Sweep(ctx, time.Minute)
}

// signUp makes an account and verifies its phone with the code of the SMS.
func (e *env) signUp(t testing.TB, username, phone string) string {
	t.Helper()
	tok := e.signUpOnly(t, username, phone)
	rec := e.do("POST", "/user/phone/verify", `{"code":"`+e.lastCode(t)+`"}`, bearer(tok))
	require.Equal(t, 200, rec.Code, "verify %s", rec.Body)
	return tok
}

// signIn starts another session of an account and returns its token.
func (e *env) signIn(t testing.TB, username, password string) string {
	t.Helper()
	rec := e.do("POST", "/user/sign-in", `{"username":"`+username+`","password":"`+password+`"}`, nil)
	require.Equal(t, http.StatusOK, rec.Code, "sign-in %s", rec.Body)
	var tok identity.Token
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &tok))
	return tok.AccessToken
}

// signUpOnly makes an account and leaves its phone unverified.
func (e *env) signUpOnly(t testing.TB, username, phone string) string {
	t.Helper()
	rec := e.do("POST", "/user/sign-up", `{"username":"`+username+`","phoneNumber":"`+phone+`","password":"long enough pw"}`, nil)
	require.Equal(t, http.StatusCreated, rec.Code, "sign-up %s", rec.Body)
	var tok identity.Token
	_ = json.Unmarshal(rec.Body.Bytes(), &tok)
	return tok.AccessToken
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// lastCode is the code of the last verification SMS published.
func (e *env) lastCode(t testing.TB) string {
	t.Helper()
	sent := e.bus.Events(events.TopicSendSMS)
	for i := len(sent) - 1; i >= 0; i-- {
		var m events.SendSMS
		if json.Unmarshal(sent[i].Data, &m) == nil && strings.HasPrefix(m.MessageID, "phone-code-") {
			return sixDigits.FindStringSubmatch(m.Text)[1]
		}
	}
	t.Fatal("no verification SMS")
	return ""
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func problemOf(t *testing.T, rec *httptest.ResponseRecorder) httpx.Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"), "content type, body %s", rec.Body)
	var p httpx.Problem
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	return p
}

func TestSignUpValidation(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "alice", "0909123456")
	tests := []struct {
		name, body string
		status     int
		detail     string
	}{
		{"duplicate_username_is_409", `{"username":"alice","phoneNumber":"0909000001","password":"long enough pw"}`, 409, "username is already taken"},
		{"invalid_phone_says_why", `{"username":"bob","phoneNumber":"12","password":"long enough pw"}`, 400, "phoneNumber"},
		{"short_password_states_the_rule", `{"username":"bob","phoneNumber":"0909000001","password":"short"}`, 400, "password must be 10 to 128"},
		{"bad_username_states_the_rule", `{"username":"B o b","phoneNumber":"0909000001","password":"long enough pw"}`, 400, "username must be"},
		{"unknown_field_is_refused", `{"username":"bob","phoneNumber":"0909000001","password":"long enough pw","admin":true}`, 400, `unknown field "admin"`},
		{"wrong_type_names_the_field", `{"username":5,"phoneNumber":"0909000001","password":"long enough pw"}`, 400, `field "username"`},
		{"premium_rate_number_is_not_texted", `{"username":"bob","phoneNumber":"+1 900 555 0123","password":"long enough pw"}`, 400, "mobile number of VN"},
		{"foreign_mobile_is_not_texted", `{"username":"bob","phoneNumber":"+234 803 123 4567","password":"long enough pw"}`, 400, "mobile number of VN"},
		{"fixed_line_is_not_texted", `{"username":"bob","phoneNumber":"+84 24 3825 1234","password":"long enough pw"}`, 400, "fixed-line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do("POST", "/user/sign-up", tt.body, nil)
			p := problemOf(t, rec)
			assert.Equal(t, tt.status, rec.Code, "status, problem %+v", p)
			assert.Contains(t, p.Detail, tt.detail, "problem detail")
		})
	}
}

func TestSignInAndSignOut(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "alice", "0909123456")
	assert.Equal(t, 401, e.do("POST", "/user/sign-in", `{"username":"alice","password":"wrong password"}`, nil).Code, "wrong password")
	assert.Equal(t, 401, e.do("POST", "/user/sign-in", `{"username":"nobody","password":"long enough pw"}`, nil).Code, "unknown user")
	rec := e.do("POST", "/user/sign-in", `{"username":"alice","password":"long enough pw"}`, nil)
	require.Equal(t, 200, rec.Code, "sign-in: %s", rec.Body)
	var tok identity.Token
	_ = json.Unmarshal(rec.Body.Bytes(), &tok)
	require.Equal(t, 204, e.do("POST", "/user/sign-out", "", bearer(tok.AccessToken)).Code, "sign-out")
	rec = e.do("GET", "/voucher?phoneNumber=0909123456", "", bearer(tok.AccessToken))
	assert.Equal(t, 401, rec.Code, "token after sign-out: %s", rec.Body)
	assert.Contains(t, problemOf(t, rec).Detail, "signed out", "token after sign-out")
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	forgeAt := func(method jwt.SigningMethod, key any, kid, iss string, exp time.Time) string {
		c := jwt.MapClaims{"sid": "ida", "iss": iss, "exp": exp.Unix()}
		tk := jwt.NewWithClaims(method, c)
		tk.Header["kid"] = kid
		s, err := tk.SignedString(key)
		require.NoError(t, err)
		return s
	}
	forge := func(method jwt.SigningMethod, key any, kid, iss string) string {
		return forgeAt(method, key, kid, iss, e.clock.now().Add(time.Hour))
	}
	parts := strings.Split(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[0] ^= 0xff
	tampered := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)

	tests := []struct {
		name   string
		header map[string]string
		status int
		detail string
	}{
		{"bearer_token_works", bearer(tok), 200, ""},
		{"bare_token_works", map[string]string{"Authorization": tok}, 200, ""},
		{"missing_token", nil, 401, "missing access token"},
		{"tampered_signature", bearer(tampered), 401, "signature is invalid"},
		{"alg_none", bearer(forge(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", identityadapters.Issuer)), 401, `algorithm "none" is not accepted`},
		{"wrong_key", bearer(forge(jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), "k1", identityadapters.Issuer)), 401, "signature is invalid"},
		{"unknown_kid", bearer(forge(jwt.SigningMethodHS256, e.key, "k2", identityadapters.Issuer)), 401, "unknown key"},
		{"wrong_issuer", bearer(forge(jwt.SigningMethodHS256, e.key, "k1", "someone-else")), 401, "wrong issuer"},
		{"garbage", bearer("not-a-jwt"), 401, "malformed"},
		{"expired_token", bearer(forgeAt(jwt.SigningMethodHS256, e.key, "k1", identityadapters.Issuer, e.clock.now().Add(-time.Minute))), 401, "token has expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do("GET", "/voucher?phoneNumber=0909123456", "", tt.header)
			require.Equal(t, tt.status, rec.Code, "status: %s", rec.Body)
			if tt.status != 200 {
				assert.Contains(t, problemOf(t, rec).Detail, tt.detail, "problem detail")
				assert.NotContains(t, rec.Body.String(), string(e.key), "the problem gives the signing key away")
			}
		})
	}
}

func TestSessionSlidesAndExpiresWhenIdle(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	for range 3 { // kept busy: 9 minutes apart, never idle for 10
		e.clock.add(9 * time.Minute)
		rec := e.do("GET", "/voucher?phoneNumber=0909123456", "", bearer(tok))
		require.Equal(t, 200, rec.Code, "busy session refused: %s", rec.Body)
	}
	e.clock.add(10*time.Minute + time.Second)
	rec := e.do("GET", "/voucher?phoneNumber=0909123456", "", bearer(tok))
	assert.Equal(t, 401, rec.Code, "idle session: %s", rec.Body)
	assert.Contains(t, problemOf(t, rec).Detail, "session expired", "idle session")
}

// TestSessionSlidesOnlyNowAndThen: requests 10 s apart keep a session alive
// for 15 minutes though LastSeen is written only every 30 s, and it ends
// within the idle timeout of the last one.
func TestSessionSlidesOnlyNowAndThen(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	for range 90 {
		e.clock.add(10 * time.Second)
		rec := e.do("GET", "/voucher?phoneNumber=0909123456", "", bearer(tok))
		require.Equal(t, 200, rec.Code, "busy session refused: %s", rec.Body)
	}
	e.clock.add(10*time.Minute + time.Second)
	assert.Equal(t, 401, e.do("GET", "/voucher?phoneNumber=0909123456", "", bearer(tok)).Code, "session idle for the whole timeout still works")
}

// TestSignOutIsNeverUndoneBySlide: a request that read the session before
// the sign-out must not write it back alive.
func TestSignOutIsNeverUndoneBySlide(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	e.clock.add(time.Minute) // due for a slide
	rec := e.do("POST", "/user/sign-out", "", bearer(tok))
	require.Equal(t, 204, rec.Code, "sign-out %s", rec.Body)
	for range 3 {
		require.Equal(t, 401, e.do("GET", "/voucher?phoneNumber=0909123456", "", bearer(tok)).Code, "signed-out token accepted")
	}
}

func TestPurchase(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	e.signUp(t, "bob", "0909000001")

	rec := e.do("POST", "/voucher", `{"phoneNumber":"+84909123456","callbackUrl":"https://shop.example/hook"}`, bearer(tok))
	require.Equal(t, 202, rec.Code, "purchase %s", rec.Body)
	var v requestView
	_ = json.Unmarshal(rec.Body.Bytes(), &v)
	assert.Equal(t, "/voucher/requests/"+v.RequestID, rec.Header().Get("Location"), "Location, answer %+v", v)
	assert.Equal(t, purchase.AcceptedMessage, v.Message, "answer %+v", v)
	assert.Equal(t, 0, v.State, "answer %+v", v)

	// The request and its event's outbox record were written in one
	// transaction, and the event published once it committed.
	require.NotEmpty(t, e.mem.Txns, "transactions")
	last := e.mem.Txns[len(e.mem.Txns)-1]
	require.Len(t, last, 2, "the last transaction")
	assert.Equal(t, "request|"+v.RequestID, last[0].Item.Key, "the transaction's first write")
	assert.True(t, strings.HasPrefix(last[1].Item.Key, "outbox|"), "the transaction's second write %q, want an outbox record", last[1].Item.Key)
	sent := e.bus.Events(events.TopicRequestCode)
	require.NotEmpty(t, sent, "request-code published")
	var ev events.RequestCode
	require.NoError(t, json.Unmarshal(sent[len(sent)-1].Data, &ev), "published %v", sent)
	assert.Equal(t, v.RequestID, ev.RequestID, "published %v", sent)
	assert.Equal(t, "+84909123456", ev.PhoneNumber, "published %v", sent)
	meta := sent[len(sent)-1].Meta
	assert.Equal(t, events.TypeRequestCode, meta["cloudevent.type"], "event metadata %v", meta)
	assert.Equal(t, last[1].Item.Key, "outbox|"+meta["cloudevent.id"], "event metadata %v: its id, want its outbox record's", meta)

	t.Run("query_string_form", func(t *testing.T) {
		rec := e.do("POST", "/voucher?phoneNumber=0909123456", "", bearer(tok))
		assert.Equal(t, 202, rec.Code, "%s", rec.Body)
		rec = e.do("POST", "/voucher?phoneNumber=0909123456", `{"phoneNumber":"0909123456"}`, bearer(tok))
		assert.Equal(t, 400, rec.Code, "query and body both: %s", rec.Body)
		assert.Contains(t, problemOf(t, rec).Detail, "not both")
	})
	t.Run("someone_elses_phone_is_403", func(t *testing.T) {
		rec := e.do("POST", "/voucher", `{"phoneNumber":"0909000001"}`, bearer(tok))
		assert.Equal(t, 403, rec.Code, "%s", rec.Body)
	})
	t.Run("callback_to_internal_addresses_is_refused", func(t *testing.T) {
		for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:8080/admin", "http://[::1]/", "http://10.0.0.5/hook", "https://user:pw@shop.example/",
			"https://198.18.0.1/hook", "https://240.0.0.1/", "https://255.255.255.255/", "https://[64:ff9b::a9fe:a9fe]/", "https://[2002:a9fe:a9fe::]/"} {
			rec := e.do("POST", "/voucher", `{"phoneNumber":"0909123456","callbackUrl":"`+u+`"}`, bearer(tok))
			assert.Equal(t, 400, rec.Code, "%s: %s", u, rec.Body)
		}
		// The customer is told the address is not public, not which kind.
		rec := e.do("POST", "/voucher", `{"phoneNumber":"0909123456","callbackUrl":"https://198.18.0.1/hook"}`, bearer(tok))
		assert.Equal(t, purchaseadapters.ErrNotPublic.Error(), problemOf(t, rec).Detail, "%s", rec.Body)
	})
	t.Run("callback_must_be_https_unless_allowed", func(t *testing.T) {
		strict := newEnvWith(t, func(p *purchase.Purchases) { p.AllowHTTP = false })
		tok := strict.signUp(t, "carol", "0909123456")
		rec := strict.do("POST", "/voucher", `{"phoneNumber":"0909123456","callbackUrl":"http://shop.example/hook"}`, bearer(tok))
		assert.Equal(t, 400, rec.Code, "%s", rec.Body)
		assert.Contains(t, problemOf(t, rec).Detail, "https", "%s", rec.Body)
		rec = strict.do("POST", "/voucher", `{"phoneNumber":"0909123456","callbackUrl":"https://shop.example/hook"}`, bearer(tok))
		assert.Equal(t, 202, rec.Code, "%s", rec.Body)
	})
	t.Run("callback_must_be_http_url", func(t *testing.T) {
		rec := e.do("POST", "/voucher", `{"phoneNumber":"0909123456","callbackUrl":"javascript:alert(1)"}`, bearer(tok))
		assert.Equal(t, 400, rec.Code, "%s", rec.Body)
	})
	t.Run("idempotency_key_replays_and_refuses_other_body", func(t *testing.T) {
		h := bearer(tok)
		h["Idempotency-Key"] = "abc"
		a := e.do("POST", "/voucher", `{"phoneNumber":"0909123456"}`, h)
		txns := len(e.mem.Txns)
		b := e.do("POST", "/voucher", `{"phoneNumber":"+84909123456"}`, h) // same number, other spelling
		assert.Equal(t, 202, a.Code, "first: %s", a.Body)
		assert.Equal(t, 202, b.Code, "replay: %s", b.Body)
		assert.Equal(t, a.Header().Get("Location"), b.Header().Get("Location"), "replay's Location")
		assert.Len(t, e.mem.Txns, txns, "transactions after the replay")
		c := e.do("POST", "/voucher", `{"phoneNumber":"0909123456","callbackUrl":"https://x.example/"}`, h)
		assert.Equal(t, 422, c.Code, "other body: %s", c.Body)
	})
	t.Run("replay_of_a_finished_request_promises_nothing", func(t *testing.T) {
		// Issue 28, finding 9: the replay said SUCCESS and "being
		// processed within 30 seconds" together.
		h := bearer(tok)
		h["Idempotency-Key"] = "finished-once"
		first := e.do("POST", "/voucher", `{"phoneNumber":"0909123456"}`, h)
		require.Equal(t, 202, first.Code, "%s", first.Body)
		var v requestView
		require.NoError(t, json.Unmarshal(first.Body.Bytes(), &v))
		assert.Equal(t, purchase.AcceptedMessage, v.Message, "a request being processed says so")
		ev := `{"id":"e-replay","data":{"requestId":"` + v.RequestID + `","phoneNumber":"+84909123456","status":"SUCCESS","voucherCode":"CODE-R","requestedAt":"2026-11-21T09:00:00Z","issuedAt":"2026-11-21T09:00:01Z"}}`
		require.Contains(t, e.do("POST", "/events/receive-code", ev, nil).Body.String(), "SUCCESS")
		replay := e.do("POST", "/voucher", `{"phoneNumber":"0909123456"}`, h)
		require.Equal(t, 202, replay.Code, "%s", replay.Body)
		var r requestView
		require.NoError(t, json.Unmarshal(replay.Body.Bytes(), &r))
		assert.Equal(t, "SUCCESS", r.Status)
		assert.NotContains(t, replay.Body.String(), "being processed", "a finished request promises no processing")
	})
	t.Run("too_long_an_idempotency_key_is_refused_with_the_documents_bound", func(t *testing.T) {
		h := bearer(tok)
		h["Idempotency-Key"] = strings.Repeat("k", 256)
		txns := len(e.mem.Txns)
		rec := e.do("POST", "/voucher", `{"phoneNumber":"0909123456"}`, h)
		assert.Equal(t, 400, rec.Code, "%s", rec.Body)
		assert.Contains(t, problemOf(t, rec).Detail, "Idempotency-Key must be at most 255 characters")
		assert.Len(t, e.mem.Txns, txns, "nothing stored")
	})
	t.Run("others_cannot_read_it", func(t *testing.T) {
		bobTok := e.do("POST", "/user/sign-in", `{"username":"bob","password":"long enough pw"}`, nil)
		var bt identity.Token
		_ = json.Unmarshal(bobTok.Body.Bytes(), &bt)
		rec := e.do("GET", "/voucher/requests/"+v.RequestID, "", bearer(bt.AccessToken))
		assert.Equal(t, 404, rec.Code, "%s", rec.Body)
	})

	t.Run("receive_code_waits_for_the_voucher_then_completes_once", func(t *testing.T) {
		stored := false
		e.vouchers.stored = func(string) (bool, error) { return stored, nil }
		event := `{"id":"e1","data":{"requestId":"` + v.RequestID + `","phoneNumber":"+84909123456","status":"SUCCESS","voucherCode":"AAAA-BBBB-CCCC","requestedAt":"2026-11-21T09:00:00Z","issuedAt":"2026-11-21T09:00:01Z"}}`
		require.Contains(t, e.do("POST", "/events/receive-code", event, nil).Body.String(), "RETRY", "voucher not stored yet, answer")
		stored = true
		for range 2 { // and redelivered
			require.Contains(t, e.do("POST", "/events/receive-code", event, nil).Body.String(), "SUCCESS", "answer")
		}
		got := e.do("GET", "/voucher/requests/"+v.RequestID, "", bearer(tok))
		var final requestView
		_ = json.Unmarshal(got.Body.Bytes(), &final)
		assert.Equal(t, 1, final.State, "final %+v", final)
		assert.Equal(t, "SUCCESS", final.Status, "final %+v", final)
		assert.Equal(t, 100, final.Progress, "final %+v", final)
		assert.Equal(t, "AAAA-BBBB-CCCC", final.VoucherCode, "final %+v", final)
		assert.Empty(t, final.Message, "final %+v", final)
	})
}

// smsSent lists the voucher SMS published through the deliveries' outbox.
func (e *env) smsSent(t *testing.T) []events.SendSMS {
	t.Helper()
	var out []events.SendSMS
	for _, p := range e.bus.Events(events.TopicSendSMS) {
		var m events.SendSMS
		require.NoError(t, json.Unmarshal(p.Data, &m))
		if strings.HasPrefix(m.MessageID, "voucher-") {
			out = append(out, m)
		}
	}
	return out
}

// buyAndComplete makes a request and delivers its receive-code event.
func (e *env) buyAndComplete(t *testing.T, tok, body, status string) requestView {
	t.Helper()
	rec := e.do("POST", "/voucher", body, bearer(tok))
	require.Equal(t, 202, rec.Code, "purchase %s", rec.Body)
	var v requestView
	_ = json.Unmarshal(rec.Body.Bytes(), &v)
	ev := `{"id":"e","data":{"requestId":"` + v.RequestID + `","phoneNumber":"+84909123456","status":"` + status + `","voucherCode":"CODE-` + v.RequestID + `","requestedAt":"2026-11-21T09:00:00Z","issuedAt":"2026-11-21T09:00:01Z"}}`
	require.Contains(t, e.do("POST", "/events/receive-code", ev, nil).Body.String(), "SUCCESS", "receive-code answer")
	return v
}

func (e *env) request(t *testing.T, tok, id string) requestView {
	t.Helper()
	var v requestView
	_ = json.Unmarshal(e.do("GET", "/voucher/requests/"+id, "", bearer(tok)).Body.Bytes(), &v)
	return v
}

func TestDelivery(t *testing.T) {
	t.Run("success_with_callback_is_a_webhook", func(t *testing.T) {
		e := newEnv(t)
		tok := e.signUp(t, "alice", "0909123456")
		v := e.buyAndComplete(t, tok, `{"phoneNumber":"0909123456","callbackUrl":"https://shop.example/hook"}`, "SUCCESS")
		// The first attempt is made as soon as the outcome is recorded.
		got := e.request(t, tok, v.RequestID)
		require.NotNil(t, got.Delivery, "delivery")
		assert.Equal(t, "webhook", got.Delivery.Channel, "delivery %+v", got.Delivery)
		assert.Equal(t, "DELIVERED", got.Delivery.Status, "delivery %+v", got.Delivery)
		assert.Equal(t, 1, got.Delivery.Attempts, "delivery %+v", got.Delivery)
		s, _ := e.sweep(context.Background())
		assert.Zero(t, s.Attempted, "delivered twice: %+v", s)
		assert.Empty(t, e.smsSent(t), "delivered twice: SMS")
	})
	t.Run("failing_webhook_is_retried_on_schedule_then_sms", func(t *testing.T) {
		e := newEnv(t)
		e.webhooks.answer = func(int) purchasedomain.WebhookResult { return purchasedomain.WebhookResult{Err: "answered 500"} }
		tok := e.signUp(t, "alice", "0909123456")
		v := e.buyAndComplete(t, tok, `{"phoneNumber":"0909123456","callbackUrl":"https://shop.example/hook"}`, "SUCCESS")
		ctx := context.Background()
		_, _ = e.sweep(ctx) // attempt 1
		_, _ = e.sweep(ctx) // not due yet
		require.Len(t, e.webhooks.attempts, 1, "attempts before the first retry was due")
		e.clock.add(1200 * time.Millisecond) // 1s + up to 10% jitter
		_, _ = e.sweep(ctx)                  // attempt 2
		e.clock.add(2300 * time.Millisecond)
		s, _ := e.sweep(ctx) // attempt 3: schedule over
		assert.Equal(t, 1, s.FellBack, "sweep %+v", s)
		assert.Len(t, e.webhooks.attempts, 3, "attempts")
		sms := e.smsSent(t)
		require.Len(t, sms, 1, "sms")
		assert.Equal(t, "voucher-"+v.RequestID, sms[0].MessageID, "sms %+v", sms)
		assert.Contains(t, sms[0].Text, purchasedomain.SuccessMessage, "sms text")
		assert.Contains(t, sms[0].Text, "CODE-"+v.RequestID, "sms text")
		got := e.request(t, tok, v.RequestID)
		require.NotNil(t, got.Delivery, "delivery")
		assert.Equal(t, "sms", got.Delivery.Channel, "delivery %+v", got.Delivery)
		assert.True(t, got.Delivery.FellBack, "delivery %+v", got.Delivery)
		assert.Equal(t, "answered 500", got.Delivery.LastError, "delivery %+v", got.Delivery)
	})
	t.Run("retry_after_is_honoured", func(t *testing.T) {
		e := newEnv(t)
		e.webhooks.answer = func(n int) purchasedomain.WebhookResult {
			if n == 1 {
				return purchasedomain.WebhookResult{Err: "answered 429", RetryAfter: 30 * time.Second}
			}
			return purchasedomain.WebhookResult{Delivered: true}
		}
		tok := e.signUp(t, "alice", "0909123456")
		e.buyAndComplete(t, tok, `{"phoneNumber":"0909123456","callbackUrl":"https://shop.example/hook"}`, "SUCCESS")
		_, _ = e.sweep(context.Background())
		e.clock.add(5 * time.Second) // past the schedule's 1s, before Retry-After
		_, _ = e.sweep(context.Background())
		require.Len(t, e.webhooks.attempts, 1, "retried before Retry-After")
		e.clock.add(30 * time.Second)
		s, _ := e.sweep(context.Background())
		assert.Equal(t, 1, s.Delivered, "sweep %+v", s)
	})
	tests := []struct {
		name, body, status, text string
	}{
		{"no_callback_is_sms", `{"phoneNumber":"0909123456"}`, "SUCCESS", purchasedomain.SuccessMessage},
		{"late_success_is_sms_even_with_callback", `{"phoneNumber":"0909123456","callbackUrl":"https://shop.example/hook"}`, "LATE_SUCCESS", purchasedomain.LateSuccessMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tok := e.signUp(t, "alice", "0909123456")
			v := e.buyAndComplete(t, tok, tt.body, tt.status)
			// the same event again: still one SMS
			ev := `{"id":"e","data":{"requestId":"` + v.RequestID + `","phoneNumber":"+84909123456","status":"` + tt.status + `","voucherCode":"X","requestedAt":"2026-11-21T09:00:00Z","issuedAt":"2026-11-21T09:00:01Z"}}`
			e.do("POST", "/events/receive-code", ev, nil)
			sms := e.smsSent(t)
			require.Len(t, sms, 1, "sms")
			assert.True(t, strings.HasPrefix(sms[0].Text, tt.text), "sms text %q, want it to begin %q", sms[0].Text, tt.text)
			assert.Equal(t, "+84909123456", sms[0].PhoneNumber, "sms %+v", sms)
			got := e.request(t, tok, v.RequestID)
			require.NotNil(t, got.Delivery, "delivery")
			assert.Equal(t, "sms", got.Delivery.Channel, "delivery %+v", got.Delivery)
			assert.Empty(t, e.webhooks.attempts, "webhook attempts")
		})
	}
}

func TestWebhookSecretReadAndRotate(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	read := func(method, path string) string {
		rec := e.do(method, path, "", bearer(tok))
		var body struct{ Secret string }
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		require.Equal(t, 200, rec.Code, "%s %s: %s", method, path, rec.Body)
		require.True(t, strings.HasPrefix(body.Secret, "whsec_"), "%s %s: %s", method, path, rec.Body)
		require.Equal(t, "no-store", rec.Header().Get("Cache-Control"), "%s %s: Cache-Control", method, path)
		return body.Secret
	}
	first := read("GET", "/user/webhook-secret")
	rotated := read("POST", "/user/webhook-secret/rotate")
	assert.NotEqual(t, first, rotated, "rotation did not replace the secret")
	assert.Equal(t, rotated, read("GET", "/user/webhook-secret"), "the secret read after the rotation")
	assert.Equal(t, 401, e.do("GET", "/user/webhook-secret", "", nil).Code, "without a token")
}

// TestShedAnswersBusyBeyondTheLimit: with every slot taken, a customer
// request gets 503 problem+json with Retry-After at once, while what daprd
// sends still gets through.
func TestShedAnswersBusyBeyondTheLimit(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/voucher" {
			entered <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusOK)
	})
	h := Shed(slow, 1)
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/voucher", nil))
		done <- rec.Code
	}()
	<-entered
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/voucher", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "over the limit: %s", rec.Body)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"), "over the limit: Retry-After")
	assert.Equal(t, 503, problemOf(t, rec).Status, "over the limit: the problem's status")
	for _, path := range []string{"/events/receive-code", "/request-redrive", "/healthz"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", path, nil))
		assert.Equal(t, http.StatusOK, rec.Code, "%s was shed", path)
	}
	close(release)
	assert.Equal(t, http.StatusOK, <-done, "the request in its slot")
}

// TestSignOutEverywhereEndsEverySession: two devices signed in; signing
// out everywhere from one ends both.
func TestSignOutEverywhereEndsEverySession(t *testing.T) {
	e := newEnv(t)
	phoneTok := e.signUp(t, "alice", "0909123456")
	laptopTok := e.signIn(t, "alice", "long enough pw")
	assert.Equal(t, 200, e.do("GET", "/user/me", "", bearer(laptopTok)).Code, "before")
	rec := e.do("POST", "/user/sign-out-everywhere", "", bearer(phoneTok))
	require.Equal(t, 204, rec.Code, "%s", rec.Body)
	for name, tok := range map[string]string{"the caller's": phoneTok, "the other device's": laptopTok} {
		assert.Equal(t, 401, e.do("GET", "/user/me", "", bearer(tok)).Code, "%s token after signing out everywhere", name)
	}
	assert.Equal(t, 200, e.do("GET", "/user/me", "", bearer(e.signIn(t, "alice", "long enough pw"))).Code, "a new sign-in")
}

// TestPasswordChangeEndsEverySession: a wrong current password changes
// nothing (403); the right one replaces the password, ends every session
// and answers a new token.
func TestPasswordChangeEndsEverySession(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	other := e.signIn(t, "alice", "long enough pw")
	rec := e.do("POST", "/user/password", `{"currentPassword":"not the password","newPassword":"a brand new password"}`, bearer(tok))
	require.Equal(t, 403, rec.Code, "wrong current password: %s", rec.Body)
	assert.Equal(t, 200, e.do("GET", "/user/me", "", bearer(other)).Code, "a refused change ended a session")
	rec = e.do("POST", "/user/password", `{"currentPassword":"long enough pw","newPassword":"short"}`, bearer(tok))
	require.Equal(t, 400, rec.Code, "too short: %s", rec.Body)

	rec = e.do("POST", "/user/password", `{"currentPassword":"long enough pw","newPassword":"a brand new password"}`, bearer(tok))
	require.Equal(t, 200, rec.Code, "%s", rec.Body)
	var fresh identity.Token
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &fresh))
	assert.Equal(t, 200, e.do("GET", "/user/me", "", bearer(fresh.AccessToken)).Code, "the new token")
	for name, old := range map[string]string{"the caller's old": tok, "the other device's": other} {
		assert.Equal(t, 401, e.do("GET", "/user/me", "", bearer(old)).Code, "%s token after the change", name)
	}
	assert.Equal(t, 401, e.do("POST", "/user/sign-in", `{"username":"alice","password":"long enough pw"}`, nil).Code, "the old password")
	e.signIn(t, "alice", "a brand new password")
}

// TestWrongCurrentPasswordsLockThePasswordChange: a stolen session cannot
// be used to guess the password: wrong current passwords lock the change
// like failed sign-ins.
func TestWrongCurrentPasswordsLockThePasswordChange(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	for i := range 5 {
		rec := e.do("POST", "/user/password", `{"currentPassword":"guess `+strconv.Itoa(i)+`","newPassword":"a brand new password"}`, bearer(tok))
		require.Contains(t, []int{403, 429}, rec.Code, "guess %d: %s", i, rec.Body)
	}
	rec := e.do("POST", "/user/password", `{"currentPassword":"long enough pw","newPassword":"a brand new password"}`, bearer(tok))
	assert.Equal(t, 429, rec.Code, "the right password while locked: %s", rec.Body)
}

// TestTheOldestSessionEndsBeyondTheCap: an account has at most
// identitydomain.MaxSessions sessions; one more sign-in ends the oldest.
func TestTheOldestSessionEndsBeyondTheCap(t *testing.T) {
	e := newEnv(t)
	first := e.signUp(t, "alice", "0909123456")
	var last string
	for range identitydomain.MaxSessions {
		last = e.signIn(t, "alice", "long enough pw")
	}
	assert.Equal(t, 401, e.do("GET", "/user/me", "", bearer(first)).Code, "the oldest session")
	assert.Equal(t, 200, e.do("GET", "/user/me", "", bearer(last)).Code, "the newest session")
}

func TestShedKeepsSignedInCustomersSlotsFromAnonymousFloods(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/user/sign-in" {
			entered <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusOK)
	})
	h := Shed(slow, 8) // 2 anonymous slots
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/user/sign-in", nil)) })
		<-entered
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/user/sign-up", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "a third anonymous request: %s", rec.Body)
	rec = httptest.NewRecorder()
	forged := httptest.NewRequest("POST", "/user/sign-in", nil)
	forged.Header.Set("Authorization", "Bearer anything")
	h.ServeHTTP(rec, forged)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "a sign-in with a header is anonymous all the same: %s", rec.Body)
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/user/me", nil)
	req.Header.Set("Authorization", "Bearer a-customer")
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code, "the signed-in customer was shed: %s", rec.Body)
	close(release)
	wg.Wait()
}

// TestOnlyTheSidecarGetsThrough: forged receive-code and cron calls change
// nothing without the app token or through another app's sidecar.
func TestOnlyTheSidecarGetsThrough(t *testing.T) {
	const token = "the-app-token-of-this-test"
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	rec := e.do("POST", "/voucher", `{"phoneNumber":"0909123456"}`, bearer(tok))
	require.Equal(t, 202, rec.Code, "purchase %s", rec.Body)
	var v requestView
	_ = json.Unmarshal(rec.Body.Bytes(), &v)
	before := e.request(t, tok, v.RequestID)
	e.outboxes.Settle() // the purchase's outbox entry goes in the background
	keys, dkeys := e.mem.Len(), e.dmem.Len()
	forged := `{"id":"forged","data":{"requestId":"` + v.RequestID + `","phoneNumber":"+84909123456","status":"FAILED","requestedAt":"2026-11-21T09:00:00Z"}}`
	h := service.SidecarOnly(slog.New(slog.DiscardHandler), token, e.faces.Sidecar)
	var calls []testkit.Call
	for _, path := range []string{receiveCodePath, deadLetterPath, webhookSweepPath, requestRedrivePath, outboxRelayPath} {
		calls = append(calls,
			testkit.Call{Method: "POST", Path: path, Body: forged, Want: 401},
			testkit.Call{Method: "POST", Path: path, Body: forged, Token: "not-the-token", Want: 401},
			testkit.Call{Method: "POST", Path: path, Body: forged, Token: token, Caller: "sms", Want: 403},
		)
	}
	testkit.Expect(t, h, calls...)
	// Those are every route of the sidecar's face (walked on its router):
	// a route added without a refusal here fails.
	sidecar := e.faces.Sidecar.(*service.Routes)
	reached := map[string]bool{}
	for _, c := range calls {
		reached[sidecar.PatternOf(c.Method, c.Path)] = true
	}
	assert.ElementsMatch(t, sidecar.Patterns(), slices.Collect(maps.Keys(reached)), "the sidecar's routes, and those the refusals reach")
	for _, path := range []string{receiveCodePath, deadLetterPath, webhookSweepPath, requestRedrivePath, outboxRelayPath, "/metrics", "/readyz"} {
		testkit.Expect(t, e.faces.Public, testkit.Call{Method: "POST", Path: path, Body: forged, Token: token, Want: 404})
	}
	// Not redirected to their clean form either (the mux's 307, with HTML).
	testkit.Expect(t, e.faces.Public,
		testkit.Call{Method: "POST", Path: "/user/.." + receiveCodePath, Body: forged, Token: token, Want: 404},
		testkit.Call{Method: "POST", Path: "/" + receiveCodePath, Body: forged, Token: token, Want: 404},
		testkit.Call{Method: "GET", Path: "/voucher/./requests/x", Want: 404},
	)
	after := e.request(t, tok, v.RequestID)
	e.outboxes.Settle()
	assert.Equal(t, before.Status, after.Status, "status after forged events")
	assert.NotEqual(t, "FAILED", after.Status, "status after forged events")
	assert.Equal(t, keys, e.mem.Len(), "gateway-store keys after forged calls")
	assert.Equal(t, dkeys, e.dmem.Len(), "gateway-deliveries keys after forged calls")
}

// TestABodyStillArrivingHoldsNoSlot: clients whose bodies never finish
// (the slow-body attack) take no slot of either share, so the customers
// behind them are served; a body over the limit is 413.
func TestABodyStillArrivingHoldsNoSlot(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	h := Shed(ok, 4) // 1 anonymous slot, 4 signed-in
	var (
		wg      sync.WaitGroup
		writers []*io.PipeWriter
	)
	for _, path := range []string{"/user/sign-in", "/user/sign-up", "/voucher", "/voucher", "/voucher", "/voucher", "/voucher"} {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		req := httptest.NewRequest("POST", path, pr)
		if path == "/voucher" {
			req.Header.Set("Authorization", "Bearer forged.garbage.token")
		}
		wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), req) })
		wg.Go(func() { _, _ = pw.Write([]byte(`{"phoneNumber":`)) }) // and never the rest
	}
	for _, path := range []string{"/user/sign-in", "/voucher"} {
		req := httptest.NewRequest("POST", path, strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer a-customer")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusOK, rec.Code, "%s behind seven unfinished bodies: %s", path, rec.Body)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/user/sign-up", strings.NewReader(strings.Repeat("x", httpx.MaxBodyBytes+1))))
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, "%s", rec.Body)
	assert.Equal(t, 413, problemOf(t, rec).Status)
	for _, pw := range writers {
		_ = pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	wg.Wait()
}

// TestAnswersWithTokensOrCodesAreNotCached: sign-in's token, a request's
// code, the voucher list and refusals alike: no cache keeps them, and no
// browser sniffs their type.
func TestAnswersWithTokensOrCodesAreNotCached(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/user/sign-in", `{"username":"alice","password":"long enough pw"}`},
		{"POST", "/user/sign-in", `{"username":"alice","password":"wrong password"}`},
		{"GET", "/user/me", ""},
		{"GET", "/voucher?phoneNumber=0909123456", ""},
		{"GET", "/voucher/requests/nope", ""},
	} {
		rec := e.do(c.method, c.path, c.body, bearer(tok))
		assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"), "%s %s (%d)", c.method, c.path, rec.Code)
		assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"), "%s %s (%d)", c.method, c.path, rec.Code)
	}
}

// TestARequestPastItsPromiseSaysSo is issue 28, finding 2: with voucher-int
// down, requests promised "within 30 seconds" for minutes.
func TestARequestPastItsPromiseSaysSo(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	h := bearer(tok)
	h["Idempotency-Key"] = "late-one"
	rec := e.do("POST", "/voucher", `{"phoneNumber":"0909123456","callbackUrl":"https://shop.example/hook"}`, h)
	require.Equal(t, 202, rec.Code, "purchase %s", rec.Body)
	var v requestView
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
	assert.Equal(t, purchase.AcceptedMessage, v.Message, "within its promise")
	assert.Equal(t, "2", rec.Header().Get("Retry-After"))

	e.clock.add(31 * time.Second)
	get := e.do("GET", "/voucher/requests/"+v.RequestID, "", bearer(tok))
	require.Equal(t, 200, get.Code, "%s", get.Body)
	var late requestView
	require.NoError(t, json.Unmarshal(get.Body.Bytes(), &late))
	assert.Equal(t, "PROCESSING", late.Status)
	assert.NotContains(t, late.Message, "within 30 seconds", "a promise it did not keep")
	assert.Contains(t, late.Message, "accepted at 2026-11-21 09:00:", "when it was accepted")
	assert.Contains(t, late.Message, "taking longer than the 30s", "that it is late")
	assert.Contains(t, late.Message, "sent to +84909123456 by SMS", "how the code will come")
	assert.Equal(t, "10", get.Header().Get("Retry-After"), "a late request is polled less often")

	replay := e.do("POST", "/voucher", `{"phoneNumber":"0909123456","callbackUrl":"https://shop.example/hook"}`, h)
	require.Equal(t, 202, replay.Code, "%s", replay.Body)
	var r requestView
	require.NoError(t, json.Unmarshal(replay.Body.Bytes(), &r))
	assert.Equal(t, late.Message, r.Message, "the replay says the same")

	// The code comes late, as voucher-int reports it: by SMS, not webhook.
	ev := `{"id":"e-late","data":{"requestId":"` + v.RequestID + `","phoneNumber":"+84909123456","status":"LATE_SUCCESS","voucherCode":"CODE-L","requestedAt":"2026-11-21T09:00:00Z","issuedAt":"2026-11-21T09:00:31Z"}}`
	require.Equal(t, 200, e.do("POST", "/events/receive-code", ev, nil).Code)
	assert.Empty(t, e.webhooks.attempts, "no webhook for a late code")
	sms := e.smsSent(t)
	require.Len(t, sms, 1, "the code by SMS, as the message said")
	assert.Contains(t, sms[0].Text, "CODE-L")
}
