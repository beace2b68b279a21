package ports

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/bankabc/vouchers/kit/errs"
	identity "github.com/bankabc/vouchers/services/gateway/internal/identity/app"
	purchase "github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
)

// The apps say what went wrong; the answer adds the route that mends it,
// word for word as before the apps stopped naming routes.
func TestRefusalsNameTheRouteThatMendsThem(t *testing.T) {
	locked := &errs.Error{Kind: errs.TooManyRequests, RetryAfter: time.Minute,
		Message: "too many failed tries: locked for 1m0s", Cause: identity.ErrAccountLocked}
	hinted := withUnlockHint(locked)
	assert.Equal(t, "too many failed tries: locked for 1m0s (the account's owner can ask for an unlock code by SMS: POST /user/sign-in/unlock-code)",
		errs.Public(hinted))
	assert.Equal(t, time.Minute, errs.RetryAfterOf(hinted))
	assert.Equal(t, errs.TooManyRequests, errs.KindOf(hinted))

	other := errs.Later(time.Minute, "too many failed tries: locked for 1m0s")
	assert.Same(t, other, withUnlockHint(other), "a client's own lock has no unlock code")

	assert.Equal(t, "verify your phone number first: POST /user/phone/verify with the code we sent by SMS",
		errs.Public(withVerifyHint(purchase.ErrPhoneNotVerified)))
	assert.Equal(t, errs.Forbidden, errs.KindOf(withVerifyHint(purchase.ErrPhoneNotVerified)))
}
