package app

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bankabc/vouchers/kit/errs"
)

// A black-box review found port 0, port 99999 and a trailing space
// accepted (issue 28, finding 7).
func TestCallbackURLsAreCheckedForPortAndWhitespace(t *testing.T) {
	p := Purchases{}
	for _, tc := range []struct {
		name, url string
		ok        bool
	}{
		{"https_without_port", "https://shop.example/hook", true},
		{"https_with_a_port", "https://shop.example:8443/hook", true},
		{"highest_port", "https://shop.example:65535/hook", true},
		{"port_zero_is_refused", "https://shop.example:0/hook", false},
		{"port_past_65535_is_refused", "https://shop.example:99999/hook", false},
		{"empty_port_is_refused", "https://shop.example:/hook", false},
		{"trailing_space_is_refused", "https://shop.example/hook ", false},
		{"leading_space_is_refused", " https://shop.example/hook", false},
		{"tab_in_path_is_refused", "https://shop.example/ho\tok", false},
		{"newline_is_refused", "https://shop.example/hook\n", false},
		{"no_break_space_is_refused", "https://shop.example/hook\u00a0", false},
		{"plain_http_is_refused_here", "http://shop.example/hook", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.checkCallbackURL(context.Background(), tc.url)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, errs.Invalid, errs.KindOf(err), "want Invalid, got %v", err)
		})
	}
}
