package ports

import (
	"log/slog"
	"maps"
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
}
