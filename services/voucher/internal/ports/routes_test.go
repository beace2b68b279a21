package ports

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/voucher/internal/wiring"
)

// TestOnlyTheSidecarGetsThrough: a forged receive-code stores nothing, and
// a customer's vouchers are read by gateway alone, through its sidecar.
func TestOnlyTheSidecarGetsThrough(t *testing.T) {
	const token = "the-app-token-of-this-test"
	cfg, err := wiring.LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": token}))
	require.NoError(t, err)
	mem := testkit.NewMemState()
	log := slog.New(slog.DiscardHandler)
	sidecar := Routes(log, wiring.Build(mem, cfg, log)).(*service.Routes)
	h := service.SidecarOnly(log, cfg.AppToken, sidecar)
	event := `{"id":"e1","topic":"receive-code","data":{"requestId":"r1","phoneNumber":"+84909123456","status":"SUCCESS","voucherCode":"FORGED-CODE","requestedAt":"2026-11-21T09:00:00Z","issuedAt":"2026-11-21T09:00:01Z"}}`
	list := "/vouchers?phoneNumber=%2B84909123456"
	calls := []testkit.Call{
		{Method: "POST", Path: "/events/receive-code", Body: event, Want: 401},
		{Method: "POST", Path: "/events/receive-code", Body: event, Token: "not-the-token", Want: 401},
		{Method: "POST", Path: "/events/receive-code", Body: event, Token: token, Caller: "gateway", Want: 403},
		{Method: "GET", Path: list, Caller: "gateway", Want: 401},
		{Method: "GET", Path: list, Token: token, Want: 403},
		{Method: "GET", Path: list, Token: token, Caller: "sms", Want: 403},
		{Method: "GET", Path: "/vouchers/r1", Caller: "gateway", Want: 401},
		{Method: "GET", Path: "/vouchers/r1", Token: token, Caller: "voucher-int", Want: 403},
	}
	testkit.Expect(t, h, calls...)
	// Those are every route of the sidecar's face (walked on its router):
	// a route added without a refusal here fails.
	reached := map[string]bool{}
	for _, c := range calls {
		reached[sidecar.PatternOf(c.Method, c.Path)] = true
	}
	assert.ElementsMatch(t, sidecar.Patterns(), slices.Collect(maps.Keys(reached)), "the sidecar's routes, and those the refusals reach")
	assert.Zero(t, mem.Len(), "refused requests left keys")
	// From the sidecar: stored, and read back by gateway.
	testkit.Expect(t, h,
		testkit.Call{Method: "POST", Path: "/events/receive-code", Body: event, Token: token, Want: 200},
		testkit.Call{Method: "GET", Path: "/vouchers/r1", Token: token, Caller: "gateway", Want: 200},
		testkit.Call{Method: "GET", Path: list, Token: token, Caller: "gateway", Want: 200},
	)
	// gateway's wait for a voucher being stored: bounded, and read with care.
	testkit.Expect(t, h,
		testkit.Call{Method: "GET", Path: "/vouchers/r1?wait=1s", Token: token, Caller: "gateway", Want: 200},
		testkit.Call{Method: "GET", Path: "/vouchers/r2?wait=10ms", Token: token, Caller: "gateway", Want: 404},
		testkit.Call{Method: "GET", Path: "/vouchers/r1?wait=soon", Token: token, Caller: "gateway", Want: 400},
		testkit.Call{Method: "GET", Path: "/vouchers/r1?wait=-1s", Token: token, Caller: "gateway", Want: 400},
		testkit.Call{Method: "GET", Path: "/vouchers/r1?wait=1h", Token: token, Caller: "gateway", Want: 400},
	)
}

// TestListIsPaged: gateway's ?limit= and ?cursor= reach the list, which
// answers the next cursor until the last page; a bad one is a 400 problem.
func TestListIsPaged(t *testing.T) {
	const token = "the-app-token-of-this-test"
	cfg, err := wiring.LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": token}))
	require.NoError(t, err)
	log := slog.New(slog.DiscardHandler)
	a := wiring.Build(testkit.NewMemState(), cfg, log)
	h := service.SidecarOnly(log, cfg.AppToken, Routes(log, a).(*service.Routes))
	for i := range 3 {
		ev := fmt.Sprintf(`{"id":"e%d","topic":"receive-code","data":{"requestId":"r%d","phoneNumber":"+84909123456","status":"SUCCESS","voucherCode":"C-%d","requestedAt":"2026-11-21T09:00:00Z","issuedAt":"2026-11-21T09:00:01Z"}}`, i, i, i)
		testkit.Expect(t, h, testkit.Call{Method: "POST", Path: "/events/receive-code", Body: ev, Token: token, Want: 200})
	}
	get := func(query string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/vouchers?phoneNumber=%2B84909123456"+query, nil)
		req.Header.Set("dapr-api-token", token)
		req.Header.Set("dapr-caller-app-id", "gateway")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	type list struct {
		Vouchers []struct {
			RequestID string `json:"requestId"`
		} `json:"vouchers"`
		NextCursor *string `json:"nextCursor"`
	}
	var got []string
	query := "&limit=2"
	for range 3 {
		rec := get(query)
		require.Equal(t, 200, rec.Code, "%s", rec.Body)
		var l list
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &l))
		for _, v := range l.Vouchers {
			got = append(got, v.RequestID)
		}
		if l.NextCursor == nil {
			break
		}
		query = "&limit=2&cursor=" + url.QueryEscape(*l.NextCursor)
	}
	assert.Equal(t, []string{"r2", "r1", "r0"}, got, "newest first, two at a time")

	for _, bad := range []string{"&limit=0", "&limit=101", "&limit=-3", "&limit=two", "&limit=", "&cursor=nope"} {
		rec := get(bad)
		assert.Equal(t, 400, rec.Code, "%s: %s", bad, rec.Body)
		assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"), bad)
	}
}
