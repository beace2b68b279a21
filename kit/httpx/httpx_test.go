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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/tracing"
)

type body struct {
	Name string `json:"name"`
	Age  int    `json:"age"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantErr  string
		wantKind errs.Kind
	}{
		{"valid_body_decodes", `{"name":"a","age":3}`, "", errs.Invalid},
		{"unknown_field_is_rejected", `{"name":"a","role":"admin"}`, `unknown field "role"`, errs.Invalid},
		{"wrong_type_names_the_field", `{"age":"three"}`, `field "age" must be int`, errs.Invalid},
		{"empty_body_is_rejected", ``, "empty body", errs.Invalid},
		{"two_values_are_rejected", `{} {}`, "more than one JSON value", errs.Invalid},
		{"oversized_body_is_rejected", `{"name":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, "larger than", errs.TooLarge},
		{"truncated_body_is_rejected", `{"name":`, "truncated JSON", errs.Invalid},
		{"syntax_error_is_located", `{"name" 1}`, "syntax error at byte", errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			_, err := Decode[body](r)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.wantKind, errs.KindOf(err), "kind of %v", err)
			assert.Contains(t, errs.Public(err), tt.wantErr)
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
		{errs.E(errs.TooLarge, "request body: larger than 65536 bytes"), 413, "request body: larger than 65536 bytes"},
		{errors.New("sql: password=hunter2"), 500, "internal error"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		WriteError(rec, httptest.NewRequest(http.MethodGet, "/x", nil), log, tt.err)
		assert.Equal(t, tt.wantStatus, rec.Code, "%v: status", tt.err)
		assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"), "%v: content-type", tt.err)
		var p Problem
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p), "%v", tt.err)
		assert.Equal(t, tt.wantDetail, p.Detail, "%v: problem %+v", tt.err, p)
		assert.Equal(t, tt.wantStatus, p.Status, "%v: problem %+v", tt.err, p)
		assert.True(t, strings.HasPrefix(p.Type, ProblemTypeBase), "%v: problem %+v", tt.err, p)
	}
}

func TestMiddlewareEchoesRequestIDAndRecovers(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	h := Middleware(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "abc", RequestID(r.Context()), "request id")
		panic("boom")
	}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Request-Id", "abc")
	h.ServeHTTP(rec, req)
	assert.Equal(t, 500, rec.Code, "code")
	assert.Equal(t, "abc", rec.Header().Get("X-Request-Id"), "id")
}

func TestTooManyRequestsCarriesRetryAfter(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, httptest.NewRequest(http.MethodPost, "/user/sign-in", nil), slog.New(slog.NewJSONHandler(io.Discard, nil)),
		errs.Later(1500*time.Millisecond, "too many failed sign-ins"))
	assert.Equal(t, 429, rec.Code)
	assert.Equal(t, "2", rec.Header().Get("Retry-After"), "Retry-After")
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
		require.NoError(t, json.Unmarshal([]byte(l), &m), "log line %q", l)
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
	assert.Len(t, lines, 2)
	for _, l := range lines {
		assert.Equal(t, "req-1", l["request_id"], "line %v", l)
		assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", l["trace_id"], "line %v", l)
	}

	// No traceparent: a new trace, the same in both lines.
	buf.Reset()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/voucher", nil))
	lines = logLines(t, &buf)
	require.GreaterOrEqual(t, len(lines), 2, "new trace: %v", lines)
	id, _ := lines[0]["trace_id"].(string)
	assert.Len(t, id, 32, "new trace: %v", lines)
	assert.Equal(t, id, lines[1]["trace_id"], "new trace: %v", lines)
	assert.NotEmpty(t, lines[0]["request_id"], "new trace: %v", lines)
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
		if continued {
			assert.Contains(t, got, "-4bf92f3577b34da6a3ce929d0e0e4736-", "%s: want the sidecar's trace continued", path)
			assert.NotContains(t, got, "00f067aa0ba902b7", "%s: want a server span of the app's own", path)
		} else {
			assert.NotContains(t, got, "4bf92f3577b34da6a3ce929d0e0e4736", "%s: want a new trace, not the caller's", path)
			assert.True(t, strings.HasSuffix(got, "-00"), "%s: trace %q, want an unsampled one (sample rate 0)", path, got)
			assert.Len(t, got, len(sent), "%s: want a whole traceparent", path)
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
	assert.Equal(t, want, obs.got, "observed")
}

func TestProbesAreLoggedAtDebugLevel(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))) // info and up
	h := Middleware(log, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/dapr/subscribe"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	assert.Empty(t, buf.String(), "probes logged at info")
}

func TestUnsafeRequestIDsAreReplaced(t *testing.T) {
	h := Middleware(slog.New(slog.DiscardHandler), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, id := range []string{"a b", "line\nbreak", "é", strings.Repeat("x", 65), ""} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("X-Request-Id", id)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-Id")
		assert.NotEqual(t, id, got, "%q answered as itself", id)
		assert.Len(t, got, 32, "%q answered as %q", id, got)
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
	assert.Equal(t, 1, strings.Count(first, `"request_id"`), "request_id fields in line %s", first)
	assert.Contains(t, first, `"request_id":"req-2"`)
}

func TestAQuietRequestIsLoggedOnlyWhenItFails(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))) // info and up
	h := Middleware(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Quiet(r.Context())
		if r.URL.Path == "/broken" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/tick", nil))
	assert.Empty(t, buf.String(), "a quiet request that went well")
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/broken", nil))
	assert.Contains(t, buf.String(), `"path":"/broken"`, "a quiet request that failed")
}
