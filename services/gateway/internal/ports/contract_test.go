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
		if err := specViolation(r, rec); err != nil {
			t.Errorf("contract: %v\nbody: %s", err, rec.Body)
		}
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
	if rec.Code != http.StatusAccepted {
		t.Fatalf("purchase %d %s", rec.Code, rec.Body)
	}
	location := rec.Header().Get("Location")

	get := func(h http.Handler) (*http.Request, *httptest.ResponseRecorder) {
		req := httptest.NewRequest("GET", location, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return req, rec
	}
	if req, rec := get(e.h); specViolation(req, rec) != nil {
		t.Fatalf("the real handler breaks the document: %v", specViolation(req, rec))
	}
	req, rec := get(withExtraField(e.h, "internalNote"))
	err := specViolation(req, rec)
	if err == nil || !strings.Contains(err.Error(), "internalNote") {
		t.Fatalf("an answer with a field the document does not have passed the contract check (error %v)", err)
	}
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
			if rec.Code != tt.status || p.Type != "https://vouchers.bank-abc.example/problems/"+tt.kind || p.Status != tt.status {
				t.Fatalf("%d %+v, want %d of type %s", rec.Code, p, tt.status, tt.kind)
			}
		})
	}
	if rec := e.do("DELETE", "/voucher", "", bearer(tok)); rec.Header().Get("Allow") != "GET, POST" {
		t.Fatalf("405 Allow %q", rec.Header().Get("Allow"))
	}
}

func TestTheDocumentIsServed(t *testing.T) {
	e := newEnv(t)
	rec := e.do("GET", "/openapi.yaml", "", nil)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), api.OpenAPI) || rec.Header().Get("Content-Type") != "application/yaml" {
		t.Fatalf("%d %s", rec.Code, rec.Header())
	}
}

func TestMeSaysWhereToGoNext(t *testing.T) {
	e := newEnv(t)
	me := func(tok string) meView {
		rec := e.do("GET", "/user/me", "", bearer(tok))
		var v meView
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		return v
	}
	fresh := e.signUpOnly(t, "alice", "0909123456")
	if v := me(fresh); v != (meView{Username: "alice", PhoneNumber: "+84909123456"}) {
		t.Fatalf("before verifying: %+v", v)
	}
	verified := e.signUp(t, "bob", "0909000001")
	if v := me(verified); !v.PhoneVerified || v.Username != "bob" {
		t.Fatalf("after verifying: %+v", v)
	}
	if rec := e.do("GET", "/user/me", "", nil); rec.Code != 401 {
		t.Fatalf("no token: %d", rec.Code)
	}
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
	if len(rec.routes) != 1 || rec.routes[0] != "POST /user/sign-up" {
		t.Fatalf("recorded under %v, want the route POST /user/sign-up", rec.routes)
	}
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
	for _, path := range []string{receiveCodePath, deadLetterPath, webhookSweepPath, outboxRelayPath} {
		if notFound(e.faces.Sidecar, http.MethodPost, path) {
			t.Errorf("%s is not a route of the sidecar's face", path)
		}
		if !notFound(e.faces.Public, http.MethodPost, path) {
			t.Errorf("%s is answered on the public port", path)
		}
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
