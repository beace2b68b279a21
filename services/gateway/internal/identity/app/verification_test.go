package app

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
)

// Issue 28, finding 3: a customer with two sessions verifies the phone in
// one; the other must not stay unverified (a purchase with it was 403
// "verify your phone number first", and verifying again 422).
func TestVerificationReachesEverySessionOfTheAccount(t *testing.T) {
	ctx := context.Background()
	a, clk := signInAccounts(&slowHasher{})
	addUser(t, a, "karim", "the right password")
	_, err := a.SignIn(ctx, SignInInput{Username: "karim", Password: "the right password", Client: "203.0.113.20"})
	require.NoError(t, err)
	t2, err := a.SignIn(ctx, SignInInput{Username: "karim", Password: "the right password", Client: "203.0.113.21"})
	require.NoError(t, err)
	s2, err := a.Authenticate(ctx, t2.AccessToken)
	require.NoError(t, err)
	require.False(t, s2.PhoneVerified)

	// What VerifyPhone does through the first session: the account is
	// verified.
	_, err = a.Users.Update(ctx, userKey("karim"), func(u *domain.User, exists bool) (*persist.Event, error) {
		next, ok := u.VerifyPhone(clk.now())
		require.True(t, ok)
		*u = next
		return nil, nil
	})
	require.NoError(t, err)

	s2, err = a.Authenticate(ctx, t2.AccessToken)
	require.NoError(t, err)
	assert.True(t, s2.PhoneVerified, "the other session sees the account verified")
	stored, found, err := a.Sessions.Get(ctx, sessionKey(strings.TrimPrefix(t2.AccessToken, "t.")))
	require.NoError(t, err)
	require.True(t, found)
	assert.True(t, stored.PhoneVerified, "and it is noted on the session, so the account is read once")
}
