package ports

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	identity "github.com/bankabc/vouchers/services/gateway/internal/identity/app"
)

func TestPhoneVerification(t *testing.T) {
	e := newEnv(t)
	tok := e.signUpOnly(t, "alice", "0909123456")
	first := e.lastCode(t)
	h := bearer(tok)

	rec := e.do("POST", "/voucher", `{"phoneNumber":"0909123456"}`, h)
	assert.Equal(t, 403, rec.Code, "purchase before verification: %s", rec.Body)
	assert.Contains(t, problemOf(t, rec).Detail, "verify your phone number first", "purchase before verification")
	assert.Equal(t, 403, e.do("GET", "/voucher?phoneNumber=0909123456", "", h).Code, "list before verification")
	wrong := "000000"
	if wrong == first {
		wrong = "111111"
	}
	rec = e.do("POST", "/user/phone/verify", `{"code":"`+wrong+`"}`, h)
	require.Equal(t, 422, rec.Code, "wrong code: %s", rec.Body)
	assert.Contains(t, problemOf(t, rec).Detail, "4 tries left", "wrong code")
	rec = e.do("POST", "/user/phone/verification", "", h)
	assert.Equal(t, 429, rec.Code, "resend within the cool-down: %s", rec.Body)
	assert.NotEmpty(t, rec.Header().Get("Retry-After"), "resend within the cool-down: Retry-After")
	for range 3 {
		require.Equal(t, 422, e.do("POST", "/user/phone/verify", `{"code":"`+wrong+`"}`, h).Code, "wrong code")
	}
	// The fifth wrong try in a row locks verification for the account.
	rec = e.do("POST", "/user/phone/verify", `{"code":"`+wrong+`"}`, h)
	require.Equal(t, 429, rec.Code, "fifth wrong try")
	assert.Equal(t, "60", rec.Header().Get("Retry-After"), "fifth wrong try: Retry-After")
	require.Equal(t, 429, e.do("POST", "/user/phone/verify", `{"code":"`+first+`"}`, h).Code, "right code while locked")
	e.clock.add(61 * time.Second)
	// The code itself had its five tries: even the right one is refused now.
	rec = e.do("POST", "/user/phone/verify", `{"code":"`+first+`"}`, h)
	require.Equal(t, 422, rec.Code, "right code after 5 wrong tries: %s", rec.Body)
	assert.Contains(t, problemOf(t, rec).Detail, "5 wrong tries", "right code after 5 wrong tries")
	rec = e.do("POST", "/user/phone/verification", "", h)
	require.Equal(t, 202, rec.Code, "resend after the cool-down: %s", rec.Body)
	second := e.lastCode(t)
	if first != second {
		assert.Equal(t, 422, e.do("POST", "/user/phone/verify", `{"code":"`+first+`"}`, h).Code, "the replaced code still works")
	}
	rec = e.do("POST", "/user/phone/verify", `{"code":"`+second+`"}`, h)
	require.Equal(t, 200, rec.Code, "right code: %s", rec.Body)
	rec = e.do("POST", "/voucher", `{"phoneNumber":"0909123456"}`, h)
	assert.Equal(t, 202, rec.Code, "purchase after verification: %s", rec.Body)
}

func TestPhoneCodeExpires(t *testing.T) {
	e := newEnv(t)
	tok := e.signUpOnly(t, "alice", "0909123456")
	code := e.lastCode(t)
	e.clock.add(5*time.Minute + time.Second)
	rec := e.do("POST", "/user/phone/verify", `{"code":"`+code+`"}`, bearer(tok))
	assert.Equal(t, 422, rec.Code, "expired code: %s", rec.Body)
	assert.Contains(t, problemOf(t, rec).Detail, "no live code", "expired code")
}

// TestAPhoneNumberBelongsToTheAccountThatVerifiesIt (issue 17): sign-up
// does not tell whether a number has an account; the first verification wins.
func TestAPhoneNumberBelongsToTheAccountThatVerifiesIt(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "alice", "0909123456")
	texts := len(e.bus.Events(events.TopicSendSMS))
	rec := e.do("POST", "/user/sign-up", `{"username":"bob","phoneNumber":"+84 909 123 456","password":"long enough pw"}`, nil)
	require.Equal(t, 201, rec.Code, "same number, other spelling: the same answer as a new one: %s", rec.Body)
	sent := e.bus.Events(events.TopicSendSMS)[texts:]
	require.Len(t, sent, 1, "texts on bob's sign-up")
	var notice events.SendSMS
	require.NoError(t, json.Unmarshal(sent[0].Data, &notice))
	assert.Equal(t, "+84909123456", notice.PhoneNumber)
	assert.True(t, strings.HasPrefix(notice.MessageID, "signup-notice-"), "the owner gets a notice, not a code: %+v", notice)
	assert.Empty(t, sixDigits.FindString(notice.Text), "the notice carries no code: %q", notice.Text)

	// Squatting: mallory signs up with carol's number and never verifies;
	// carol signs up with it, verifies, and buys.
	e.signUpOnly(t, "mallory", "0909000002")
	carol := e.signUp(t, "carol", "0909000002")
	assert.Equal(t, 202, e.do("POST", "/voucher", `{"phoneNumber":"0909000002"}`, bearer(carol)).Code, "carol buys")

	// Had mallory the code of a text to that number, her verification
	// would be refused: carol verified first.
	var tok identity.Token
	require.NoError(t, json.Unmarshal(e.do("POST", "/user/sign-in", `{"username":"mallory","password":"long enough pw"}`, nil).Body.Bytes(), &tok))
	e.clock.add(2 * time.Minute) // past the resend cool-down
	require.Equal(t, 202, e.do("POST", "/user/phone/verification", "", bearer(tok.AccessToken)).Code, "mallory asks for a code")
	rec = e.do("POST", "/user/phone/verify", `{"code":"`+e.lastCode(t)+`"}`, bearer(tok.AccessToken))
	assert.Equal(t, 409, rec.Code, "a second verification: %s", rec.Body)
	assert.Contains(t, problemOf(t, rec).Detail, "already verified by another account")
}

// TestCodeTextsAreCappedPerDay: asking again and again stops at the day's
// cap for the account, with 429 and when to come back.
func TestCodeTextsAreCappedPerDay(t *testing.T) {
	e := newEnv(t)
	tok := e.signUpOnly(t, "alice", "0909123456") // the first text
	var rec *httptest.ResponseRecorder
	for range 5 {
		e.clock.add(2 * time.Minute)
		rec = e.do("POST", "/user/phone/verification", "", bearer(tok))
		if rec.Code != 202 {
			break
		}
	}
	require.Equal(t, 429, rec.Code, "past the cap: %s", rec.Body)
	assert.Contains(t, problemOf(t, rec).Detail, "today")
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
}

func TestFailedSignInsLockTheUsername(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "alice", "0909123456")
	wrong := `{"username":"alice","password":"not the password"}`
	right := `{"username":"alice","password":"long enough pw"}`
	for i := range 4 {
		require.Equal(t, 401, e.do("POST", "/user/sign-in", wrong, nil).Code, "failure %d", i+1)
	}
	rec := e.do("POST", "/user/sign-in", wrong, nil)
	require.Equal(t, 429, rec.Code, "fifth failure")
	assert.Equal(t, "60", rec.Header().Get("Retry-After"), "fifth failure: Retry-After")
	require.Equal(t, 429, e.do("POST", "/user/sign-in", right, nil).Code, "right password while locked")
	e.clock.add(61 * time.Second)
	rec = e.do("POST", "/user/sign-in", right, nil)
	require.Equal(t, 200, rec.Code, "after the lock: %s", rec.Body)
	// Unknown usernames lock the same way: the lock tells nothing.
	for range 5 {
		rec = e.do("POST", "/user/sign-in", `{"username":"nobody","password":"whatever pw"}`, nil)
	}
	assert.Equal(t, 429, rec.Code, "unknown username")
}

func TestHostileBodies(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	tests := []struct {
		name, method, path, body string
		auth                     bool
		status                   int
	}{
		{"oversized_body", "POST", "/user/sign-up", `{"username":"` + strings.Repeat("a", 70_000) + `"}`, false, 413},
		{"array_instead_of_object", "POST", "/user/sign-up", `[1,2,3]`, false, 400},
		{"number_for_password", "POST", "/user/sign-in", `{"username":"alice","password":12345678901}`, false, 400},
		{"null_body", "POST", "/user/sign-in", `null`, false, 400}, // not an object: refused before any credentials check
		{"unknown_field_role", "POST", "/user/sign-up", `{"username":"mallory","phoneNumber":"0909000003","password":"long enough pw","role":"admin"}`, false, 400},
		{"sql_injection_username", "POST", "/user/sign-up", `{"username":"alice' OR '1'='1","phoneNumber":"0909000003","password":"long enough pw"}`, false, 400},
		{"sql_injection_sign_in", "POST", "/user/sign-in", `{"username":"' OR 1=1 --","password":"x"}`, false, 401},
		{"script_in_callback", "POST", "/voucher", `{"phoneNumber":"0909123456","callbackUrl":"javascript:alert(document.cookie)"}`, true, 400},
		{"file_url_callback", "POST", "/voucher", `{"phoneNumber":"0909123456","callbackUrl":"file:///etc/passwd"}`, true, 400},
		{"phone_with_shell", "POST", "/voucher", `{"phoneNumber":"0909123456; rm -rf /"}`, true, 400},
		{"nul_in_phone", "POST", "/voucher", `{"phoneNumber":"0909\u0000123456"}`, true, 400},
		{"deeply_nested", "POST", "/voucher", strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000), true, 400},
		{"code_with_letters", "POST", "/user/phone/verify", `{"code":"12ab56"}`, true, 400}, // the document states the code's rule: refused at the edge
		{"path_traversal_request_id", "GET", "/voucher/requests/..%2f..%2fuser%7Calice", "", true, 404},
		{"not_json_content_type", "POST", "/user/sign-in", `username=alice`, false, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.auth {
				h = bearer(tok)
			}
			if tt.name == "not_json_content_type" {
				h["Content-Type"] = "application/x-www-form-urlencoded"
			}
			rec := e.do(tt.method, tt.path, tt.body, h)
			assert.Equal(t, tt.status, rec.Code, "status: %.300s", rec.Body)
			if rec.Code >= 400 {
				var p map[string]any
				assert.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p), "not a problem+json body: %.300s", rec.Body)
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"), "not a problem+json body: %.300s", rec.Body)
			}
			assert.Less(t, rec.Code, 500, "hostile input made a 5xx")
		})
	}
}

// TestNoSecretsInLogs runs the flows that handle secrets and fails if a
// password, a code, a token or a webhook secret reaches the log.
func TestNoSecretsInLogs(t *testing.T) {
	e := newEnv(t)
	const password = "long enough pw"
	tok := e.signUpOnly(t, "alice", "0909123456")
	code := e.lastCode(t)
	e.do("POST", "/user/phone/verify", `{"code":"000000"}`, bearer(tok))
	e.do("POST", "/user/phone/verify", `{"code":"`+code+`"}`, bearer(tok))
	signIn := e.do("POST", "/user/sign-in", `{"username":"alice","password":"`+password+`"}`, nil)
	var tok2 struct{ AccessToken string }
	_ = json.Unmarshal(signIn.Body.Bytes(), &tok2)
	e.do("POST", "/user/sign-in", `{"username":"alice","password":"wrong `+password+`"}`, nil)
	secret := e.do("GET", "/user/webhook-secret", "", bearer(tok)).Body.String()
	e.do("POST", "/voucher", `{"phoneNumber":"0909123456"}`, map[string]string{"Authorization": "Bearer " + tok + "x"})
	e.do("POST", "/voucher", `{"phoneNumber":"0909123456"}`, bearer(tok2.AccessToken))

	logs := e.logs.String()
	if !strings.Contains(logs, `"path":"/user/sign-in"`) {
		t.Fatalf("the log did not capture the requests: %.500s", logs)
	}
	var s struct{ Secret string }
	_ = json.Unmarshal([]byte(secret), &s)
	for name, value := range map[string]string{"password": password, "code": code, "token": tok, "second token": tok2.AccessToken, "webhook secret": s.Secret} {
		require.NotEmpty(t, value, "%s is empty: the test would prove nothing", name)
		if strings.Contains(logs, value) {
			t.Errorf("the log contains the %s", name)
		}
	}
	if strings.Contains(logs, strings.Split(tok, ".")[2]) {
		t.Error("the log contains a token signature")
	}
}
