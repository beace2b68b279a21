package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api"
)

// The contract test: every answer the gateway gives in this suite is
// checked against the OpenAPI document (client.try calls checkContract), so
// each end-to-end scenario is also a contract scenario. A status, header or
// field the document does not have fails the test that saw it.
var (
	spec = api.MustLoad()

	coveredMu sync.Mutex
	covered   = map[string]int{} // operation → answers checked
)

// checkContract checks one answer of the gateway against the document
// (api.Spec.CheckAnswer) and counts it for its operation.
func checkContract(req *http.Request, status int, header http.Header, body []byte) error {
	op, err := spec.CheckAnswer(req, status, header, body)
	if op != "" {
		coveredMu.Lock()
		covered[op]++
		coveredMu.Unlock()
	}
	return err
}

// reportContractCoverage prints how many answers of each operation were
// checked, and fails the suite when an operation was never exercised: its
// answers would be unchecked.
func reportContractCoverage() int {
	coveredMu.Lock()
	defer coveredMu.Unlock()
	code := 0
	fmt.Println("e2e: contract: answers checked against api/openapi.yaml, by operation:")
	for _, op := range spec.Operations() {
		n := covered[op]
		mark := ""
		if n == 0 {
			mark, code = "   <- never exercised", 1
		}
		fmt.Printf("  %-40s %5d%s\n", op, n, mark)
	}
	return code
}

// checkCloudEvent checks one message as it went through the broker: a
// CloudEvent 1.0 with our type name for the topic, and data its topic's
// JSON Schema accepts.
func checkCloudEvent(topic string, raw []byte) error {
	var ce struct {
		SpecVersion     string          `json:"specversion"`
		ID              string          `json:"id"`
		Source          string          `json:"source"`
		Type            string          `json:"type"`
		DataContentType string          `json:"datacontenttype"`
		Data            json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &ce); err != nil {
		return fmt.Errorf("not a JSON CloudEvent: %w", err)
	}
	want, ok := api.TopicOf(topic)
	switch {
	case !ok:
		return fmt.Errorf("topic %s is not in api/events", topic)
	case ce.SpecVersion != "1.0" || ce.ID == "" || ce.Source == "":
		return fmt.Errorf("not a CloudEvent 1.0: specversion %q id %q source %q", ce.SpecVersion, ce.ID, ce.Source)
	case ce.Type != want.Type:
		return fmt.Errorf("type %q, want %q", ce.Type, want.Type)
	case !strings.Contains(ce.DataContentType, "json"):
		return fmt.Errorf("datacontenttype %q", ce.DataContentType)
	}
	data := []byte(ce.Data)
	var s string
	if json.Unmarshal(ce.Data, &s) == nil { // data carried as a string holding JSON
		data = []byte(s)
	}
	return api.CheckEvent(topic, data)
}

// TestContractEdges exercises what the scenarios elsewhere do not, through
// the real gateway: the served document, the problems for unknown paths and
// methods and for bodies that break the document (nothing is created), a
// new verification code, and rotating the webhook secret.
func TestContractEdges(t *testing.T) {
	c := newClient(t)
	t.Run("document_is_served", func(t *testing.T) {
		r := c.do("GET", "/openapi.yaml", nil, nil)
		require.Equal(t, 200, r.Status)
		assert.Equal(t, string(api.OpenAPI), string(r.Body), "the served document is not api/openapi.yaml")
	})
	t.Run("unknown_path_and_method_are_problems", func(t *testing.T) {
		r := c.do("GET", "/admin", nil, nil)
		assert.Equal(t, 404, r.Status, "%s", r.Body)
		assert.Equal(t, "application/problem+json", r.Header.Get("Content-Type"), "%s", r.Body)
		r = c.do("DELETE", "/voucher", nil, nil)
		assert.Equal(t, 405, r.Status, "%v %s", r.Header, r.Body)
		assert.Equal(t, "GET, POST", r.Header.Get("Allow"), "%v %s", r.Header, r.Body)
		assert.Equal(t, "application/problem+json", r.Header.Get("Content-Type"), "%v %s", r.Header, r.Body)
	})
	t.Run("a_body_breaking_the_document_creates_nothing", func(t *testing.T) {
		name := uniqueName("eve")
		r := c.do("POST", "/user/sign-up", map[string]any{"username": name, "phoneNumber": uniquePhone(0), "password": password, "isAdmin": true}, nil)
		require.Equal(t, 400, r.Status, "%s", r.Body)
		assert.Contains(t, string(r.Body), `unknown field \"isAdmin\"`)
		r = c.do("POST", "/user/sign-in", map[string]string{"username": name, "password": password}, nil)
		assert.Equal(t, 401, r.Status, "the refused sign-up made an account: sign-in %s", r.Body)
	})
	t.Run("a_new_code_verifies_the_phone", func(t *testing.T) {
		phone := uniquePhone(0)
		name := uniqueName("frank")
		c.signUpOnly(name, phone)
		var me struct {
			Username, PhoneNumber string
			PhoneVerified         bool
		}
		c.do("GET", "/user/me", nil, nil).json(t, &me)
		require.Equal(t, name, me.Username, "me before verifying: %+v", me)
		require.Equal(t, phone, me.PhoneNumber, "me before verifying: %+v", me)
		require.False(t, me.PhoneVerified, "me before verifying: %+v", me)
		first := c.smsCode(phone)
		deadline := time.Now().Add(time.Minute)
		for { // the cooldown (1 s in this suite) answers 429 until it ends
			r := c.do("POST", "/user/phone/verification", nil, nil)
			if r.Status == http.StatusAccepted {
				break
			}
			if r.Status != http.StatusTooManyRequests || time.Now().After(deadline) {
				t.Fatalf("new code: %d %s", r.Status, r.Body)
			}
			time.Sleep(200 * time.Millisecond)
		}
		var code string
		for code = c.smsCode(phone); code == first && time.Now().Before(deadline); code = c.smsCode(phone) {
			time.Sleep(50 * time.Millisecond)
		}
		r := c.do("POST", "/user/phone/verify", map[string]string{"code": code}, nil)
		require.Equal(t, 200, r.Status, "verify with the new code: %s", r.Body)
		c.do("GET", "/user/me", nil, nil).json(t, &me)
		assert.True(t, me.PhoneVerified, "me after verifying: %+v", me)
	})
	t.Run("rotating_the_webhook_secret_replaces_it", func(t *testing.T) {
		before := c.webhookSecret()
		var rotated struct{ Secret string }
		c.do("POST", "/user/webhook-secret/rotate", nil, nil).json(t, &rotated)
		require.NotEmpty(t, rotated.Secret, "rotated secret")
		assert.NotEqual(t, before, rotated.Secret, "rotated secret")
		assert.Equal(t, rotated.Secret, c.webhookSecret(), "secret after rotating")
	})
}
