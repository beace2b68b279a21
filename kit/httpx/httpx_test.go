package httpx

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
)

type body struct {
	Name string `json:"name"`
	Age  int    `json:"age"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{"valid_body_decodes", `{"name":"a","age":3}`, ""},
		{"unknown_field_is_rejected", `{"name":"a","role":"admin"}`, `unknown field "role"`},
		{"wrong_type_names_the_field", `{"age":"three"}`, `field "age" must be int`},
		{"empty_body_is_rejected", ``, "empty body"},
		{"two_values_are_rejected", `{} {}`, "more than one JSON value"},
		{"oversized_body_is_rejected", `{"name":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, "larger than"},
		{"truncated_body_is_rejected", `{"name":`, "truncated JSON"},
		{"syntax_error_is_located", `{"name" 1}`, "syntax error at byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			_, err := Decode[body](r)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || errs.KindOf(err) != errs.Invalid || !strings.Contains(errs.Public(err), tt.wantErr) {
				t.Fatalf("got %v, want Invalid containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriteErrorMapsKindToStatusAndHidesInternals(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	tests := []struct {
		err        error
		wantStatus int
		wantDetail string
	}{
		{errs.E(errs.Forbidden, "not your phone number"), 403, "not your phone number"},
		{errs.E(errs.NotFound, "no such request"), 404, "no such request"},
		{errors.New("sql: password=hunter2"), 500, "internal error"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		WriteError(rec, httptest.NewRequest(http.MethodGet, "/x", nil), log, tt.err)
		if rec.Code != tt.wantStatus || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("status %d content-type %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		var p Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if p.Detail != tt.wantDetail || p.Status != tt.wantStatus || !strings.HasPrefix(p.Type, ProblemTypeBase) {
			t.Fatalf("problem %+v", p)
		}
	}
}

func TestMiddlewareEchoesRequestIDAndRecovers(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	h := Middleware(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if RequestID(r.Context()) != "abc" {
			t.Errorf("request id %q", RequestID(r.Context()))
		}
		panic("boom")
	}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Request-Id", "abc")
	h.ServeHTTP(rec, req)
	if rec.Code != 500 || rec.Header().Get("X-Request-Id") != "abc" {
		t.Fatalf("code %d id %q", rec.Code, rec.Header().Get("X-Request-Id"))
	}
}

func TestTooManyRequestsCarriesRetryAfter(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, httptest.NewRequest(http.MethodPost, "/user/sign-in", nil), slog.New(slog.NewJSONHandler(io.Discard, nil)),
		errs.Later(1500*time.Millisecond, "too many failed sign-ins"))
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("%d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}
