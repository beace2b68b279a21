package ports

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api"
	"github.com/bankabc/vouchers/kit/httpx"
)

// specViolation checks one answer of the gateway against the OpenAPI
// document (api.Spec.CheckAnswer).
func specViolation(req *http.Request, rec *httptest.ResponseRecorder) error {
	_, err := spec.CheckAnswer(req, rec.Code, rec.Header(), rec.Body.Bytes())
	return err
}

// checkedAgainstSpec serves h and fails t on any answer that breaks the
// OpenAPI document: every handler test doubles as a contract test.
func checkedAgainstSpec(t testing.TB, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		assert.NoError(t, specViolation(r, rec), "contract\nbody: %s", rec.Body)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// withExtraField is a handler that answers what h answers, with one JSON
// field more: what a handler changed without the document would return.
func withExtraField(h http.Handler, name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		body[name] = "not in the document"
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_ = json.NewEncoder(w).Encode(body)
	})
}

func TestContractFailsOnAFieldTheSpecDoesNotHave(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	rec := e.do("POST", "/voucher", `{"phoneNumber":"+84909123456"}`, bearer(tok))
	require.Equal(t, http.StatusAccepted, rec.Code, "purchase %s", rec.Body)
	location := rec.Header().Get("Location")

	get := func(h http.Handler) (*http.Request, *httptest.ResponseRecorder) {
		req := httptest.NewRequest("GET", location, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return req, rec
	}
	require.NoError(t, specViolation(get(e.h)), "the real handler breaks the document")
	err := specViolation(get(withExtraField(e.h, "internalNote")))
	require.ErrorContains(t, err, "internalNote", "an answer with a field the document does not have passed the contract check")
	t.Logf("caught: %v", err)
}

func TestErrorsAreProblemsWithAStableType(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	tests := []struct {
		name, method, path, body string
		status                   int
		kind                     string
	}{
		{"unknown_path", "GET", "/admin", "", 404, "not-found"},
		{"method_the_path_has_not", "DELETE", "/voucher", "", 405, "method-not-allowed"},
		{"body_breaking_the_document", "POST", "/voucher", `{"phoneNumber":5}`, 400, "invalid"},
		{"no_token", "GET", "/voucher?phoneNumber=0909123456", "", 401, "unauthorized"},
		{"unknown_request", "GET", "/voucher/requests/nope", "", 404, "not-found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := bearer(tok)
			if tt.kind == "unauthorized" {
				hdr = nil
			}
			rec := e.do(tt.method, tt.path, tt.body, hdr)
			p := problemOf(t, rec)
			assert.Equal(t, tt.status, rec.Code, "status, problem %+v", p)
			assert.Equal(t, "https://vouchers.bank-abc.example/problems/"+tt.kind, p.Type, "problem type")
			assert.Equal(t, tt.status, p.Status, "problem status")
		})
	}
	assert.Equal(t, "GET, POST", e.do("DELETE", "/voucher", "", bearer(tok)).Header().Get("Allow"), "405 Allow")
}

func TestTheDocumentIsServed(t *testing.T) {
	e := newEnv(t)
	rec := e.do("GET", "/openapi.yaml", "", nil)
	assert.Equal(t, 200, rec.Code, "status")
	assert.True(t, bytes.Equal(rec.Body.Bytes(), api.OpenAPI), "the body is not the document")
	assert.Equal(t, "application/yaml", rec.Header().Get("Content-Type"), "Content-Type")
}

func TestMeSaysWhereToGoNext(t *testing.T) {
	e := newEnv(t)
	me := func(tok string) meView {
		rec := e.do("GET", "/user/me", "", bearer(tok))
		var v meView
		require.Equal(t, 200, rec.Code, "%s", rec.Body)
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), "%s", rec.Body)
		return v
	}
	fresh := e.signUpOnly(t, "alice", "0909123456")
	assert.Equal(t, meView{Username: "alice", PhoneNumber: "+84909123456"}, me(fresh), "before verifying")
	verified := e.signUp(t, "bob", "0909000001")
	v := me(verified)
	assert.True(t, v.PhoneVerified, "after verifying: %+v", v)
	assert.Equal(t, "bob", v.Username, "after verifying")
	assert.Equal(t, 401, e.do("GET", "/user/me", "", nil).Code, "no token")
}

// routeRecorder keeps the route each request was recorded under.
type routeRecorder struct{ routes []string }

func (r *routeRecorder) ObserveRequest(route, _ string, _ int, _ time.Duration) {
	r.routes = append(r.routes, route)
}

func TestRefusedRequestsAreCountedUnderTheirRoute(t *testing.T) {
	e := newEnv(t)
	rec := &routeRecorder{}
	h := httpx.Observe(httpx.Observed{Log: slog.New(slog.DiscardHandler), Metrics: rec}, e.routes)
	req := httptest.NewRequest("POST", "/user/sign-up", strings.NewReader(`{"username":5}`))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(httptest.NewRecorder(), req)
	assert.Equal(t, []string{"POST /user/sign-up"}, rec.routes, "recorded under")
}

// TestEachRouteIsOnOneFaceOnly: the sidecar's routes exist on the app port
// only, every operation of the spec and the web page on the public port
// only (the /ops/ tools on the app port, for operators).
func TestEachRouteIsOnOneFaceOnly(t *testing.T) {
	e := newEnv(t)
	notFound := func(h http.Handler, method, path string) bool {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader("{}")))
		return rec.Code == http.StatusNotFound && strings.Contains(rec.Body.String(), "not-found")
	}
	for _, path := range []string{receiveCodePath, deadLetterPath, webhookSweepPath, requestRedrivePath, outboxRelayPath} {
		assert.False(t, notFound(e.faces.Sidecar, http.MethodPost, path), "%s is not a route of the sidecar's face", path)
		assert.True(t, notFound(e.faces.Public, http.MethodPost, path), "%s is answered on the public port", path)
	}
	public := []string{"GET /", "GET /assets/app.js", "GET /openapi.yaml"}
	for _, op := range spec.Operations() {
		method, path, _ := strings.Cut(op, " ")
		public = append(public, method+" "+api.ConcretePath(path))
	}
	for _, op := range public {
		method, path, _ := strings.Cut(op, " ")
		onPublic, onSidecar := !notFound(e.faces.Public, method, path), !notFound(e.faces.Sidecar, method, path)
		if strings.HasPrefix(path, "/ops/") {
			if onPublic || notFound(e.faces.Operator, method, path) {
				t.Errorf("%s: on the public port %v, on the operator's %v", op, onPublic, !onPublic)
			}
			continue
		}
		if !onPublic || onSidecar {
			t.Errorf("%s: on the public port %v, on the sidecar's %v", op, onPublic, onSidecar)
		}
	}
}
