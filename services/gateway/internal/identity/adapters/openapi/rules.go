// Package openapi reads field rules from the OpenAPI document, so they are
// written once.
package openapi

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/bankabc/vouchers/api"
	"github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
)

// AccountRules reads username and password rules from the OpenAPI document.
// The domain checks them again, because a username becomes part of state keys.
func AccountRules(spec *api.Spec) (domain.AccountRules, error) {
	username, err := textRule(spec, "SignUp", "username")
	if err != nil {
		return domain.AccountRules{}, err
	}
	password, err := textRule(spec, "SignUp", "password")
	if err != nil {
		return domain.AccountRules{}, err
	}
	newPassword, err := textRule(spec, "PasswordChange", "newPassword")
	if err != nil {
		return domain.AccountRules{}, err
	}
	code, err := textRule(spec, "PhoneVerification", "code")
	if err != nil {
		return domain.AccountRules{}, err
	}
	if username.Pattern == nil || code.Pattern == nil || password.Max == 0 || newPassword.Max == 0 {
		return domain.AccountRules{}, fmt.Errorf("openapi.yaml: the username and the SMS code must be bound by a pattern, and the passwords' lengths")
	}
	return domain.AccountRules{Username: username, Password: password, NewPassword: newPassword, Code: code}, nil
}

func textRule(spec *api.Spec, schema, property string) (domain.TextRule, error) {
	r, err := spec.TextRule(schema, property)
	if err != nil {
		return domain.TextRule{}, err
	}
	rule := domain.TextRule{Field: property, Min: r.MinLength, Max: r.MaxLength, Says: strings.TrimSuffix(r.Description, ".")}
	if r.Pattern != "" {
		if rule.Pattern, err = regexp.Compile(r.Pattern); err != nil {
			return domain.TextRule{}, fmt.Errorf("openapi.yaml: %s.%s: %w", schema, property, err)
		}
	}
	if !strings.HasPrefix(rule.Says, "must ") {
		return domain.TextRule{}, fmt.Errorf("openapi.yaml: %s.%s: its description must state its rule (\"must …\")", schema, property)
	}
	return rule, nil
}
