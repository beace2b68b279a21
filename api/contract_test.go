package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustLoad(t *testing.T) *Spec {
	t.Helper()
	s, err := Load()
	require.NoError(t, err)
	return s
}

func jsonHeader(ct string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", ct)
	return h
}

const requestBody = `{"requestId":"r1","status":"SUCCESS","state":1,"progress":100,"phoneNumber":"+84901234560",` +
	`"voucherCode":"ABC-123","createdAt":"2026-11-21T10:00:00.000Z","updatedAt":"2026-11-21T10:00:02.000Z","completedAt":"2026-11-21T10:00:02.000Z"}`

func TestResponseWithAFieldTheSpecDoesNotHaveFails(t *testing.T) {
	s := mustLoad(t)
	ex, err := s.Match(httptest.NewRequest("GET", "/voucher/requests/r1", nil))
	require.NoError(t, err)
	err = s.CheckResponse(context.Background(), ex, 200, jsonHeader("application/json"), []byte(requestBody))
	assert.NoError(t, err, "a response as the document has it failed")
	extra := strings.Replace(requestBody, `"requestId"`, `"internalNote":"x","requestId"`, 1)
	err = s.CheckResponse(context.Background(), ex, 200, jsonHeader("application/json"), []byte(extra))
	assert.ErrorContains(t, err, "internalNote", "a response with a field the document does not have")
}

func TestResponseChecks(t *testing.T) {
	s := mustLoad(t)
	problem := `{"type":"https://vouchers.bank-abc.example/problems/not-found","title":"Not Found","status":404,"detail":"no request","instance":"/voucher/requests/x"}`
	tests := []struct {
		name, method, path string
		status             int
		contentType, body  string
		wantErr            string
	}{
		{"problem_for_a_declared_error", "GET", "/voucher/requests/x", 404, "application/problem+json", problem, ""},
		{"error_as_plain_json_fails", "GET", "/voucher/requests/x", 404, "application/json", problem, "content-type"},
		{"unknown_problem_type_fails", "GET", "/voucher/requests/x", 404, "application/problem+json",
			strings.Replace(problem, "not-found", "oops", 1), "type"},
		{"wrong_enum_fails", "GET", "/voucher/requests/x", 200, "application/json",
			strings.Replace(requestBody, `"SUCCESS"`, `"DONE"`, 1), "status"},
		{"missing_required_field_fails", "GET", "/voucher/requests/x", 200, "application/json",
			strings.Replace(requestBody, `"progress":100,`, ``, 1), "progress"},
		{"undeclared_success_status_fails", "GET", "/voucher/requests/x", 201, "application/json", requestBody, "201"},
		{"list_page_with_its_cursor", "GET", "/voucher?phoneNumber=x", 200, "application/json",
			`{"phoneNumber":"+84901234560","vouchers":[],"nextCursor":"djEuMy40"}`, ""},
		{"list_last_page", "GET", "/voucher?phoneNumber=x", 200, "application/json", `{"phoneNumber":"+84901234560","vouchers":[]}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex, err := s.Match(httptest.NewRequest(tt.method, tt.path, nil))
			require.NoError(t, err)
			err = s.CheckResponse(context.Background(), ex, tt.status, jsonHeader(tt.contentType), []byte(tt.body))
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err, "want one mentioning %q", tt.wantErr)
			assert.Contains(t, strings.ToLower(err.Error()), tt.wantErr)
		})
	}
}

func TestRequestChecks(t *testing.T) {
	s := mustLoad(t)
	tests := []struct {
		name, method, path, contentType, body string
		want                                  error
		wantText                              string
	}{
		{"valid_sign_up", "POST", "/user/sign-up", "application/json", `{"username":"alice","phoneNumber":"0901234567","password":"long enough pw"}`, nil, ""},
		{"unknown_field", "POST", "/user/sign-up", "application/json", `{"username":"alice","phoneNumber":"0901234567","password":"long enough pw","role":"admin"}`, nil, "role"},
		{"missing_field", "POST", "/user/sign-up", "application/json", `{"username":"alice","password":"long enough pw"}`, nil, "phoneNumber"},
		{"short_password", "POST", "/user/sign-up", "application/json", `{"username":"alice","phoneNumber":"0901234567","password":"short"}`, nil, "password"},
		{"not_json", "POST", "/user/sign-in", "text/plain", `hello`, nil, "content-type"},
		{"query_form_purchase", "POST", "/voucher?phoneNumber=%2B84901234560", "", ``, nil, ""},
		{"unknown_path", "GET", "/admin", "", ``, ErrNoOperation, ""},
		{"wrong_method", "DELETE", "/voucher", "", ``, ErrMethodNotAllowed, ""},
		{"list_without_phone", "GET", "/voucher", "", ``, nil, "phoneNumber"},
		{"list_a_page", "GET", "/voucher?phoneNumber=%2B84901234560&limit=100&cursor=djEuMy40", "", ``, nil, ""},
		{"list_limit_over_100", "GET", "/voucher?phoneNumber=%2B84901234560&limit=101", "", ``, nil, "limit"},
		{"list_limit_zero", "GET", "/voucher?phoneNumber=%2B84901234560&limit=0", "", ``, nil, "limit"},
		{"list_limit_not_whole", "GET", "/voucher?phoneNumber=%2B84901234560&limit=2.5", "", ``, nil, "limit"},
		{"list_limit_not_a_number", "GET", "/voucher?phoneNumber=%2B84901234560&limit=ten", "", ``, nil, "limit"},
		{"list_cursor_not_a_token", "GET", "/voucher?phoneNumber=%2B84901234560&cursor=a%2Fb", "", ``, nil, "cursor"},
		{"list_cursor_empty", "GET", "/voucher?phoneNumber=%2B84901234560&cursor=", "", ``, nil, "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			_, err := s.CheckRequest(context.Background(), r)
			switch {
			case tt.want != nil:
				assert.ErrorIs(t, err, tt.want)
			case tt.wantText == "":
				assert.NoError(t, err)
			default:
				require.Error(t, err, "want one mentioning %q", tt.wantText)
				assert.Contains(t, strings.ToLower(err.Error()), strings.ToLower(tt.wantText))
				t.Logf("%v", err)
			}
		})
	}
}

func TestRequestErrorsNeverEchoThePassword(t *testing.T) {
	s := mustLoad(t)
	for _, body := range []string{
		`{"username":"alice","phoneNumber":"0901234567","password":"sekret"}`,
		`{"username":"Alice","phoneNumber":"0901234567","password":"sekret-but-long-enough","x":1}`,
	} {
		r := httptest.NewRequest("POST", "/user/sign-up", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		_, err := s.CheckRequest(context.Background(), r)
		require.Error(t, err, "%s passed", body)
		assert.NotContains(t, err.Error(), "sekret", "the error shows the password")
	}
}

func TestOperationsAreListed(t *testing.T) {
	ops := mustLoad(t).Operations()
	assert.GreaterOrEqual(t, len(ops), 12, "only %d operations: %v", len(ops), ops)
	t.Log(ops)
}

func TestWebhookPayloadSchema(t *testing.T) {
	s := mustLoad(t)
	good := `{"type":"voucher.issued","timestamp":"2026-11-21T10:00:02Z","data":{"requestId":"r1","status":"SUCCESS","state":1,"phoneNumber":"+84901234560","voucherCode":"C-1","message":"your voucher"}}`
	assert.NoError(t, s.CheckSchema("WebhookPayload", []byte(good)))
	bad := strings.Replace(good, `"message"`, `"secret":"x","message"`, 1)
	assert.ErrorContains(t, s.CheckSchema("WebhookPayload", []byte(bad)), "secret", "extra field")
}

func TestConcretePathMatchesItsOperation(t *testing.T) {
	s := mustLoad(t)
	for _, op := range s.Operations() {
		method, template, _ := strings.Cut(op, " ")
		path := ConcretePath(template)
		if strings.ContainsAny(path, "{}") {
			t.Errorf("%s: %s still has a parameter", op, path)
		}
		ex, err := s.Match(httptest.NewRequest(method, path, nil))
		if assert.NoError(t, err, "%s: %s %s", op, method, path) {
			assert.Equal(t, op, ex.Operation, "%s: %s %s matched another operation", op, method, path)
		}
	}
}

func TestCheckAnswerWhateverTheRequest(t *testing.T) {
	s := mustLoad(t)
	problem := `{"type":"https://vouchers.bank-abc.example/problems/method-not-allowed","title":"Method Not Allowed","status":405,"detail":"no"}`
	tests := []struct {
		name, method, path string
		status             int
		contentType, body  string
		wantOp, wantErr    string
	}{
		{"operation_checked_and_named", "GET", "/voucher/requests/x", 200, "application/json", requestBody, "GET /voucher/requests/{requestId}", ""},
		{"operation_answer_off_the_document", "GET", "/voucher/requests/x", 201, "application/json", requestBody, "GET /voucher/requests/{requestId}", "201"},
		{"wrong_method_answered_405_problem", "DELETE", "/voucher", 405, "application/problem+json", problem, "", ""},
		{"wrong_method_answered_otherwise", "DELETE", "/voucher", 404, "application/problem+json", problem, "", "405"},
		{"wrong_method_405_as_plain_json", "DELETE", "/voucher", 405, "application/json", problem, "", "405"},
		{"internal_path_success_unchecked", "POST", "/events/receive-code", 200, "application/json", `{"status":"SUCCESS"}`, "", ""},
		{"internal_path_error_as_problem", "GET", "/readyz", 503, "application/problem+json", problem, "", ""},
		{"internal_path_error_as_plain_text", "GET", "/readyz", 503, "text/plain", "down", "", "problem+json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := s.CheckAnswer(httptest.NewRequest(tt.method, tt.path, nil), tt.status, jsonHeader(tt.contentType), []byte(tt.body))
			assert.Equal(t, tt.wantOp, op, "operation")
			if tt.wantErr == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tt.wantErr)
			}
		})
	}
}

// TestRequestErrorsAreWordedFromTheDocument: each kind of broken rule is said
// in the caller's words, from the kind of check and the limit the document
// sets (or the field's own "must …" description), never in the
// validator's English.
func TestRequestErrorsAreWordedFromTheDocument(t *testing.T) {
	s := mustLoad(t)
	cases := []struct {
		name, path, body, want string
	}{
		{"a wrong type", "/user/sign-up", `{"username":5,"phoneNumber":"0909123456","password":"long enough pw"}`,
			`request body: field "username" must be a string, not number`},
		{"not an object", "/user/sign-in", `[]`, "request body: the body must be a JSON object, not array"},
		{"a pattern the field's description states", "/user/sign-up", `{"username":"Al","phoneNumber":"0909123456","password":"long enough pw"}`,
			"request body: username must be 3 to 32 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"},
		{"a length with no description", "/user/sign-in", `{"username":"` + strings.Repeat("a", 65) + `","password":"x"}`,
			"request body: username must be at most 64 characters"},
		{"two fields missing", "/user/sign-in", `{}`, "request body: username, password are required"},
		{"two unknown fields", "/user/sign-in", `{"username":"a","password":"b","x":1,"y":2}`, `request body: unknown fields "x", "y"`},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", c.path, strings.NewReader(c.body))
		r.Header.Set("Content-Type", "application/json")
		_, err := s.CheckRequest(context.Background(), r)
		assert.EqualError(t, err, c.want, c.name)
	}
}
