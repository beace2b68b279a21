package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bankabc/vouchers/kit/vpsapi"
	"github.com/bankabc/vouchers/services/voucher-provider/internal/vps"
)

func TestRoutes(t *testing.T) {
	h := routes(slog.New(slog.NewJSONHandler(io.Discard, nil)), vps.New(vps.Config{Mode: vps.Immediate}, time.Now, nil))
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
	if code != 200 || first.Status != "SUCCESS" || first.VoucherCode == "" {
		t.Fatalf("first request: %d %+v", code, first)
	}
	_, again := do(http.MethodPost, "/api/request/voucher", `{"requestId":"r1","phoneNumber":"+84909123456"}`)
	if again.VoucherCode != first.VoucherCode {
		t.Fatalf("same requestId gave a second code")
	}
	if code, got := do(http.MethodGet, "/api/request/voucher/r1", ""); code != 200 || got.VoucherCode != first.VoucherCode {
		t.Fatalf("status read: %d %+v", code, got)
	}
	if code, _ := do(http.MethodGet, "/api/request/voucher/nope", ""); code != 404 {
		t.Fatalf("unknown order: %d", code)
	}
	if code, _ := do(http.MethodPost, "/api/request/voucher", `{"requestId":""}`); code != 400 {
		t.Fatalf("missing fields: %d", code)
	}
}

func TestAckModeAnswers202WithChallenge(t *testing.T) {
	h := routes(slog.New(slog.NewJSONHandler(io.Discard, nil)), vps.New(vps.Config{Mode: vps.Late, AckAfter: time.Millisecond, LateAfter: time.Hour}, time.Now, nil))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api/request/voucher", strings.NewReader(`{"requestId":"r1","phoneNumber":"+84909123455"}`))
	h.ServeHTTP(rec, req)
	var a vpsapi.OrderAnswer
	_ = json.Unmarshal(rec.Body.Bytes(), &a)
	if rec.Code != http.StatusAccepted || a.CodeChallenge == "" || a.TransformMethod != "S256" || a.VoucherCode != "" {
		t.Fatalf("%d %+v", rec.Code, a)
	}
}

func TestErrorModeAnswers503(t *testing.T) {
	h := routes(slog.New(slog.NewJSONHandler(io.Discard, nil)), vps.New(vps.Config{Mode: vps.Down}, time.Now, nil))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/request/voucher", strings.NewReader(`{"requestId":"r1","phoneNumber":"+1"}`)))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("%d", rec.Code)
	}
}
