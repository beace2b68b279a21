package httpx

import (
	"bytes"
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
	"github.com/bankabc/vouchers/kit/tracing"
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

type observed struct {
	route, method string
	status        int
}

type observer struct{ got []observed }

func (o *observer) ObserveRequest(route, method string, status int, _ time.Duration) {
	o.got = append(o.got, observed{route, method, status})
}

// logLines decodes every JSON line written to buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestObserveNamesRequestAndTraceInEveryLine(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil)))
	h := Middleware(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "purchase accepted")
		w.WriteHeader(http.StatusAccepted)
	}))
	req := httptest.NewRequest(http.MethodPost, "/voucher", nil)
	req.Header.Set("X-Request-Id", "req-1")
	req.Header.Set("traceparent", tp)
	h.ServeHTTP(httptest.NewRecorder(), req)
	lines := logLines(t, &buf)
	if len(lines) != 2 {
		t.Fatalf("lines %v", lines)
	}
	for _, l := range lines {
		if l["request_id"] != "req-1" || l["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Fatalf("line %v", l)
		}
	}

	// No traceparent: a new trace, the same in both lines.
	buf.Reset()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/voucher", nil))
	lines = logLines(t, &buf)
	id, _ := lines[0]["trace_id"].(string)
	if len(id) != 32 || lines[1]["trace_id"] != id || lines[0]["request_id"] == "" {
		t.Fatalf("new trace: %v", lines)
	}
}

// TestObserveStartsItsOwnTraceForAnUntrustedCaller: at a public edge a
// caller's traceparent is not continued, so it can neither pick the trace id
// the logs carry nor force sampling; a trusted caller's (the sidecar's) is.
func TestObserveStartsItsOwnTraceForAnUntrustedCaller(t *testing.T) {
	const sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	var got string
	h := Observe(Observed{
		Log:         slog.New(slog.DiscardHandler),
		TrustsTrace: func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/events/") },
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = tracing.Traceparent(r.Context())
	}))
	for path, continued := range map[string]bool{"/voucher": false, "/events/receive-code": true} {
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.Header.Set("traceparent", sent)
		h.ServeHTTP(httptest.NewRecorder(), req)
		switch {
		case continued && got != sent:
			t.Errorf("%s: trace %q, want the sidecar's %q continued", path, got, sent)
		case !continued && (strings.Contains(got, "4bf92f3577b34da6a3ce929d0e0e4736") || !strings.HasSuffix(got, "-00") || len(got) != len(sent)):
			t.Errorf("%s: trace %q, want a new unsampled one (sample rate 0), not the caller's", path, got)
		}
	}
}

func TestObserveRecordsTheRoutePatternNotThePath(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /voucher/requests/{requestId}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
	obs := &observer{}
	h := Observe(Observed{Log: slog.New(slog.DiscardHandler), Metrics: obs}, mux)
	for _, path := range []string{"/voucher/requests/a1", "/voucher/requests/b2", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	want := []observed{
		{"GET /voucher/requests/{requestId}", "GET", 404},
		{"GET /voucher/requests/{requestId}", "GET", 404},
		{UnmatchedRoute, "GET", 404},
	}
	if len(obs.got) != len(want) {
		t.Fatalf("observed %v", obs.got)
	}
	for i := range want {
		if obs.got[i] != want[i] {
			t.Fatalf("observed %v, want %v", obs.got, want)
		}
	}
}

func TestProbesAreLoggedAtDebugLevel(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))) // info and up
	h := Middleware(log, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/dapr/subscribe"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	if buf.Len() != 0 {
		t.Fatalf("probes logged at info: %s", buf.String())
	}
}

func TestUnsafeRequestIDsAreReplaced(t *testing.T) {
	h := Middleware(slog.New(slog.DiscardHandler), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, id := range []string{"a b", "line\nbreak", "é", strings.Repeat("x", 65), ""} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("X-Request-Id", id)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("X-Request-Id"); got == id || len(got) != 32 {
			t.Fatalf("%q answered as %q", id, got)
		}
	}
}

func TestWriteErrorLogsTheRequestOnce(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil)))
	h := Middleware(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, log, errors.New("boom"))
	}))
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("X-Request-Id", "req-2")
	h.ServeHTTP(httptest.NewRecorder(), req)
	first := strings.SplitN(buf.String(), "\n", 2)[0]
	if strings.Count(first, `"request_id"`) != 1 || !strings.Contains(first, `"request_id":"req-2"`) {
		t.Fatalf("line %s", first)
	}
}
