package ports

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/vpsapi"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/vps"
)

func TestRoutes(t *testing.T) {
	h := Routes(slog.New(slog.NewJSONHandler(io.Discard, nil)), vps.New(vps.Config{Mode: vps.Immediate}, time.Now, nil), "")
	do := func(method, path, body string) (int, vpsapi.OrderAnswer) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		var a vpsapi.OrderAnswer
		_ = json.Unmarshal(rec.Body.Bytes(), &a)
		return rec.Code, a
	}
	code, first := do(http.MethodPost, "/api/request/voucher", `{"requestId":"r1","phoneNumber":"+84909123456"}`)
	require.Equal(t, 200, code, "first request: %+v", first)
	require.Equal(t, "SUCCESS", first.Status, "first request: %+v", first)
	require.NotEmpty(t, first.VoucherCode, "first request: %+v", first)
	_, again := do(http.MethodPost, "/api/request/voucher", `{"requestId":"r1","phoneNumber":"+84909123456"}`)
	assert.Equal(t, first.VoucherCode, again.VoucherCode, "same requestId gave a second code")
	code, got := do(http.MethodGet, "/api/request/voucher/r1", "")
	assert.Equal(t, 200, code, "status read: %+v", got)
	assert.Equal(t, first.VoucherCode, got.VoucherCode, "status read: %+v", got)
	code, _ = do(http.MethodGet, "/api/request/voucher/nope", "")
	assert.Equal(t, 404, code, "unknown order")
	code, _ = do(http.MethodPost, "/api/request/voucher", `{"requestId":""}`)
	assert.Equal(t, 400, code, "missing fields")
}

// TestTheTestControlsTakeTheAppToken: the orders (with their code
// verifiers) and outages answer only the fake's app token.
func TestTheTestControlsTakeTheAppToken(t *testing.T) {
	const token = "the-fakes-app-token-of-this-test"
	h := Routes(slog.New(slog.DiscardHandler), vps.New(vps.Config{Mode: vps.Immediate}, time.Now, nil), token)
	testkit.Expect(t, h,
		testkit.Call{Method: "GET", Path: "/api/orders", Want: 401},
		testkit.Call{Method: "GET", Path: "/api/orders", Token: "not-the-token", Want: 401},
		testkit.Call{Method: "POST", Path: "/api/admin/outage", Body: `{"mode":"error","seconds":5}`, Want: 401},
		testkit.Call{Method: "GET", Path: "/api/orders", Token: token, Want: 200},
		testkit.Call{Method: "POST", Path: "/api/request/voucher", Body: `{"requestId":"r1","phoneNumber":"+84909123456"}`, Want: 200},
	)
}

func TestAckModeAnswers202WithChallenge(t *testing.T) {
	h := Routes(slog.New(slog.NewJSONHandler(io.Discard, nil)), vps.New(vps.Config{Mode: vps.Late, AckAfter: time.Millisecond, LateAfter: time.Hour}, time.Now, nil), "")
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api/request/voucher", strings.NewReader(`{"requestId":"r1","phoneNumber":"+84909123455"}`))
	h.ServeHTTP(rec, req)
	var a vpsapi.OrderAnswer
	_ = json.Unmarshal(rec.Body.Bytes(), &a)
	assert.Equal(t, http.StatusAccepted, rec.Code, "%+v", a)
	assert.NotEmpty(t, a.CodeChallenge, "%+v", a)
	assert.Equal(t, "S256", a.TransformMethod, "%+v", a)
	assert.Empty(t, a.VoucherCode, "%+v", a)
}

func TestErrorModeAnswers503(t *testing.T) {
	h := Routes(slog.New(slog.NewJSONHandler(io.Discard, nil)), vps.New(vps.Config{Mode: vps.Down}, time.Now, nil), "")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/request/voucher", strings.NewReader(`{"requestId":"r1","phoneNumber":"+1"}`)))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
}

// The suites read GET /api/orders: its shape must not change.
func TestOrderListingKeepsItsShape(t *testing.T) {
	for _, listed := range []string{
		`{"requestId":"r1","phoneNumber":"+84909123455","mode":"late","status":"PENDING","createdAt":"2026-11-29T09:00:00Z","calls":2,"codesIssued":1,"callbacks":0,"codeVerifier":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}`,
		`{"requestId":"r2","phoneNumber":"+84909123450","mode":"immediate","status":"SUCCESS","voucherCode":"7KQ2-MX9D-4HTP","createdAt":"2026-11-29T09:00:00.5Z","calls":1,"codesIssued":1,"callbacks":1}`,
	} {
		var v orderView
		require.NoError(t, json.Unmarshal([]byte(listed), &v))
		o := vps.Order{RequestID: v.RequestID, PhoneNumber: v.PhoneNumber, Mode: vps.Mode(v.Mode), Status: vps.Status(v.Status),
			VoucherCode: v.VoucherCode, CreatedAt: v.CreatedAt, Calls: v.Calls, CodesIssued: v.CodesIssued,
			Callbacks: v.Callbacks, CodeVerifier: v.CodeVerifier}
		again, err := json.Marshal(viewOf(o))
		require.NoError(t, err)
		assert.Equal(t, listed, string(again))
	}
}
