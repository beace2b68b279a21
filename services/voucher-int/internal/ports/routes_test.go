package ports

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/service"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/voucher-int/internal/app"
	"github.com/bankabc/vouchers/services/voucher-int/internal/domain"
	"github.com/bankabc/vouchers/services/voucher-int/internal/wiring"
)

// refusingProvider stands for the provider, which no refused call may
// reach.
type refusingProvider struct{ t *testing.T }

func (p refusingProvider) Request(context.Context, string, string) (app.Answer, error) {
	p.t.Error("a refused call reached the provider")
	return app.Answer{}, errs.E(errs.Unavailable, "no provider here")
}

func (p refusingProvider) Status(context.Context, string) (domain.ProviderStatus, error) {
	p.t.Error("a refused call reached the provider")
	return domain.ProviderStatus{}, errs.E(errs.Unavailable, "no provider here")
}

// TestOnlyTheSidecarGetsThrough: a forged request-code orders nothing and
// a forged cron call runs no pass; the callback comes through the provider
// fake's sidecar, or on the public port, where nothing else exists.
func TestOnlyTheSidecarGetsThrough(t *testing.T) {
	const token = "the-app-token-of-this-test"
	cfg, err := wiring.LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": token}))
	require.NoError(t, err)
	mem := testkit.NewMemState()
	log := slog.New(slog.DiscardHandler)
	g := wiring.Build(mem, cfg, wiring.Externals{Provider: refusingProvider{t}}, log, prometheus.NewRegistry())
	faces := Routes(context.Background(), log, g.App, g.Outboxes, 1)
	h := service.SidecarOnly(log, cfg.AppToken, faces.Sidecar)
	event := `{"id":"e1","topic":"request-code","data":{"requestId":"r1","phoneNumber":"+84909123456","requestedAt":"2026-11-21T09:00:00Z"}}`
	callback := `{"requestId":"r1","codeVerifier":"forged-verifier-forged-verifier-forged-verifier","voucherCode":"FORGED"}`
	calls := []testkit.Call{
		{Method: "POST", Path: requestCodePath, Body: event, Want: 401},
		{Method: "POST", Path: requestCodePath, Body: event, Token: "not-the-token", Want: 401},
		{Method: "POST", Path: requestCodePath, Body: event, Token: token, Caller: "gateway", Want: 403},
		{Method: "POST", Path: reconcilePath, Want: 401},
		{Method: "POST", Path: reconcilePath, Token: token, Caller: "sms", Want: 403},
		{Method: "POST", Path: outboxRelayPath, Want: 401},
		{Method: "POST", Path: outboxRelayPath, Token: token, Caller: "gateway", Want: 403},
		{Method: "POST", Path: callbackPath, Body: callback, Caller: ProviderAppID, Want: 401},
		{Method: "POST", Path: callbackPath, Body: callback, Token: token, Caller: "gateway", Want: 403},
		// The provider fake's callback gets to the check of its verifier,
		// which an unknown request fails.
		{Method: "POST", Path: callbackPath, Body: callback, Token: token, Caller: ProviderAppID, Want: 401},
	}
	testkit.Expect(t, h, calls...)
	// Those are every route of the sidecar's face (walked on its router):
	// a route added without a refusal here fails.
	sidecar := faces.Sidecar.(*service.Routes)
	reached := map[string]bool{}
	for _, c := range calls {
		reached[sidecar.PatternOf(c.Method, c.Path)] = true
	}
	assert.ElementsMatch(t, sidecar.Patterns(), slices.Collect(maps.Keys(reached)), "the sidecar's routes, and those the refusals reach")
	testkit.Expect(t, faces.Public,
		testkit.Call{Method: "POST", Path: requestCodePath, Body: event, Want: 404},
		testkit.Call{Method: "POST", Path: reconcilePath, Want: 404},
		testkit.Call{Method: "POST", Path: outboxRelayPath, Want: 404},
		testkit.Call{Method: "POST", Path: callbackPath, Body: callback, Want: 401},
		testkit.Call{Method: "GET", Path: callbackPath, Want: 405},
		testkit.Call{Method: "POST", Path: "/anything-else", Want: 404},
	)
	assert.Zero(t, mem.Len(), "refused requests left keys")
}
