package openapi

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api"
)

// TestTheDomainKeepsTheDocumentsRules: what the contract refuses at the
// edge, the domain refuses in the same words, because both read one
// document.
func TestTheDomainKeepsTheDocumentsRules(t *testing.T) {
	spec := api.MustLoad()
	rules, err := AccountRules(spec)
	require.NoError(t, err)
	cases := []struct {
		name, username, password   string
		usernameFits, passwordFits bool
	}{
		{"both fit", "alice", "long enough pw", true, true},
		{"a username with upper case", "Alice", "long enough pw", false, true},
		{"a username with a key separator", "al|ce", "long enough pw", false, true},
		{"too short a password", "alice", "short", true, false},
		{"too long a password", "alice", strings.Repeat("p", 129), true, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.usernameFits, rules.Username.Fits(c.username), "%s: username", c.name)
		assert.Equal(t, c.passwordFits, rules.Password.Fits(c.password), "%s: password", c.name)
		body := `{"username":"` + c.username + `","phoneNumber":"0909123456","password":"` + c.password + `"}`
		r := httptest.NewRequest("POST", "/user/sign-up", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		_, contractErr := spec.CheckRequest(context.Background(), r)
		if c.usernameFits && c.passwordFits {
			assert.NoError(t, contractErr, c.name)
			continue
		}
		require.Error(t, contractErr, "%s: the contract lets it through", c.name)
		for _, domainErr := range []error{rules.Username.Check(c.username), rules.Password.Check(c.password)} {
			if domainErr != nil {
				assert.Contains(t, contractErr.Error(), domainErr.Error(), "%s: the same words at the edge and in the domain", c.name)
			}
		}
	}
}

// TestANewPasswordKeepsTheDocumentsRule: the same for a password change's
// new password, which the document states on its own.
func TestANewPasswordKeepsTheDocumentsRule(t *testing.T) {
	spec := api.MustLoad()
	rules, err := AccountRules(spec)
	require.NoError(t, err)
	for _, pw := range []string{"short", "long enough pw", strings.Repeat("p", 129)} {
		body := `{"currentPassword":"the current one","newPassword":"` + pw + `"}`
		r := httptest.NewRequest("POST", "/user/password", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		_, contractErr := spec.CheckRequest(context.Background(), r)
		domainErr := rules.NewPassword.Check(pw)
		if domainErr == nil {
			assert.NoError(t, contractErr, "%d characters", len(pw))
			continue
		}
		require.Error(t, contractErr, "%d characters: the contract lets it through", len(pw))
		assert.Contains(t, contractErr.Error(), domainErr.Error(), "%d characters: the same words", len(pw))
	}
}

// TestTheCodeRuleIsTheDocuments: the code's shape is written once, in the
// document, and both the contract and the domain refuse other shapes.
func TestTheCodeRuleIsTheDocuments(t *testing.T) {
	rules, err := AccountRules(api.MustLoad())
	require.NoError(t, err)
	for code, fits := range map[string]bool{"123456": true, "12345": false, "1234567": false, "12ab56": false, "": false, "１２３４５６": false} {
		assert.Equal(t, fits, rules.Code.Fits(code), "%q", code)
	}
	assert.EqualError(t, rules.Code.Check("12ab56"), "code must be the 6 digits of the SMS")
}
