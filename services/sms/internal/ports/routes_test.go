package ports

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/sms/internal/adapters"
	"github.com/bankabc/vouchers/services/sms/internal/app"
	"github.com/bankabc/vouchers/services/sms/internal/domain"
	"github.com/bankabc/vouchers/services/sms/internal/wiring"
)

const phone = "+84909123456"

type nopSender struct{}

func (nopSender) Send(context.Context, string, string, string) error { return nil }

// downSentStore is a SentStore whose store is down.
type downSentStore struct{}

func (downSentStore) Get(context.Context, string) (domain.Sent, bool, error) {
	return domain.Sent{}, false, errs.E(errs.Unavailable, "state store unavailable")
}

func (downSentStore) Insert(context.Context, string, domain.Sent, *daprx.Event) error {
	return errs.E(errs.Unavailable, "state store unavailable")
}

// stateOnly is in-memory state without an output binding: the tests pass
// a Sender of their own, so the binding is never called.
type stateOnly struct {
	*testkit.MemState
	adapters.BindingInvoker
}

// newApp is sms's graph as run wires it (wiring.Build) over mem, with gw
// for the output binding.
func newApp(t *testing.T, mem *testkit.MemState, gw app.Sender, now func() time.Time) (app.App, wiring.Config) {
	t.Helper()
	cfg, err := wiring.LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": "the-app-token-of-this-test"}))
	require.NoError(t, err)
	return wiring.Build(stateOnly{MemState: mem}, cfg, wiring.Externals{Sender: gw, Now: now}, slog.New(slog.DiscardHandler), prometheus.NewRegistry()), cfg
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set(service.CallerHeader, "gateway") // through gateway's sidecar
	h.ServeHTTP(rec, req)
	return rec
}

func problemOf(t *testing.T, rec *httptest.ResponseRecorder, status int, kind errs.Kind) {
	t.Helper()
	assert.Equal(t, status, rec.Code, "status: %s", rec.Body)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"), "Content-Type")
	var p httpx.Problem
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p), "problem: %s", rec.Body)
	assert.Equal(t, status, p.Status, "problem %+v", p)
	assert.Equal(t, httpx.ProblemTypeBase+kind.String(), p.Type, "problem %+v", p)
}

func TestGetSentAnswersTheLogWithoutThePhoneNumber(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a, _ := newApp(t, testkit.NewMemState(), nopSender{}, func() time.Time { return at })
	h := Routes(log, a)

	problemOf(t, get(t, h, "/sent/voucher-r1"), http.StatusNotFound, errs.NotFound)

	for _, id := range []string{"voucher-r1", "odd/id with spaces"} {
		require.NoError(t, a.Send(context.Background(), events.SendSMS{MessageID: id, PhoneNumber: phone, Text: "your code"}))
		rec := get(t, h, "/sent/"+url.PathEscape(id))
		assert.Equal(t, http.StatusOK, rec.Code, "%q: status: %s", id, rec.Body)
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"), "%q: Content-Type", id)
		var body map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), "%q: body %s", id, rec.Body)
		assert.Equal(t, map[string]any{"messageId": id, "sentAt": "2026-03-01T12:00:00Z"}, body, "%q: body %s", id, rec.Body)
	}
	assert.NotContains(t, logs.String(), phone, "a phone number was logged")
}

func TestGetSentRefusesBadIDsAndReportsAStoreDown(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	a, _ := newApp(t, testkit.NewMemState(), nopSender{}, time.Now)
	h := Routes(log, a)
	problemOf(t, get(t, h, "/sent/"), http.StatusBadRequest, errs.Invalid)
	problemOf(t, get(t, h, "/sent/"+strings.Repeat("x", domain.MaxMessageIDLen+1)), http.StatusBadRequest, errs.Invalid)
	problemOf(t, get(t, h, "/sent/"+strings.Repeat("x", domain.MaxMessageIDLen)), http.StatusNotFound, errs.NotFound)

	a.Sent = downSentStore{}
	down := Routes(log, a)
	problemOf(t, get(t, down, "/sent/voucher-r1"), http.StatusServiceUnavailable, errs.Unavailable)
}

// countingSender counts the texts it was asked to send.
type countingSender struct{ sent int }

func (g *countingSender) Send(context.Context, string, string, string) error { g.sent++; return nil }

// TestOnlyTheSidecarGetsThrough: a send-sms event without the app token,
// with a wrong one, or invoked by another app through its sidecar sends
// nothing and logs nothing; only gateway may ask what was sent.
func TestOnlyTheSidecarGetsThrough(t *testing.T) {
	gw := &countingSender{}
	mem := testkit.NewMemState()
	a, cfg := newApp(t, mem, gw, time.Now)
	token := cfg.AppToken
	sidecar := Routes(slog.New(slog.DiscardHandler), a).(*service.Routes)
	h := service.SidecarOnly(slog.New(slog.DiscardHandler), token, sidecar)
	event := `{"id":"e1","topic":"send-sms","data":{"messageId":"forged-1","phoneNumber":"` + phone + `","text":"call 1900 now"}}`
	reached := map[string]bool{} // the routes the calls below reach
	do := func(method, path, body, tok, caller string) *httptest.ResponseRecorder {
		reached[sidecar.PatternOf(method, path)] = true
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set(service.TokenHeader, tok)
		}
		if caller != "" {
			req.Header.Set(service.CallerHeader, caller)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	problemOf(t, do("POST", "/events/send-sms", event, "", ""), http.StatusUnauthorized, errs.Unauthorized)
	problemOf(t, do("POST", "/events/send-sms", event, "not-the-token", ""), http.StatusUnauthorized, errs.Unauthorized)
	problemOf(t, do("POST", "/events/send-sms", event, token, "gateway"), http.StatusForbidden, errs.Forbidden)
	problemOf(t, do("GET", "/sent/forged-1", "", "", "gateway"), http.StatusUnauthorized, errs.Unauthorized)
	problemOf(t, do("GET", "/sent/forged-1", "", token, "voucher"), http.StatusForbidden, errs.Forbidden)
	problemOf(t, do("GET", "/sent/", "", "", "gateway"), http.StatusUnauthorized, errs.Unauthorized)
	problemOf(t, do("GET", "/sent/", "", token, "voucher"), http.StatusForbidden, errs.Forbidden)
	// Those are every route of the sidecar's face (walked on its router):
	// a route added without a refusal here fails.
	assert.ElementsMatch(t, sidecar.Patterns(), slices.Collect(maps.Keys(reached)), "the sidecar's routes, and those the refusals reach")
	assert.Zero(t, gw.sent, "refused requests sent texts")
	assert.Zero(t, mem.Len(), "refused requests left keys")
	// The same event from the sidecar itself is sent.
	rec := do("POST", "/events/send-sms", event, token, "")
	assert.Equal(t, http.StatusOK, rec.Code, "from the sidecar: %s", rec.Body)
	assert.Equal(t, 1, gw.sent, "from the sidecar: texts sent")
	rec = do("GET", "/sent/forged-1", "", token, "gateway")
	assert.Equal(t, http.StatusOK, rec.Code, "gateway asking: %s", rec.Body)
}
