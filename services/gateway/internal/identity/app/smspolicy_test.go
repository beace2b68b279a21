package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/gateway/internal/daily"
)

// TestSMSPolicyTextsOnlyMobilesOfItsRegions: the numbers issue 17 got
// texted (a US 900 premium number, a Nigerian mobile) are refused with the
// reason; Vietnamese mobiles are not.
func TestSMSPolicyTextsOnlyMobilesOfItsRegions(t *testing.T) {
	p := SMSPolicy{Regions: []string{"VN"}}
	for _, ok := range []string{"+84909123456", "+84912345678", "+84381234567"} {
		assert.NoError(t, p.Check(ok), ok)
	}
	for phone, why := range map[string]string{
		"+19005550123":   "mobile number of VN", // US premium rate
		"+2348031234567": "mobile number of VN", // Nigeria
		"+842438251234":  "premium-rate",        // a Hanoi fixed line
		"+8418001234":    "premium-rate",        // toll-free
	} {
		err := p.Check(phone)
		require.Error(t, err, phone)
		assert.Equal(t, errs.Invalid, errs.KindOf(err), phone)
		assert.Contains(t, err.Error(), why, phone)
	}
	assert.NoError(t, SMSPolicy{}.Check("+2348031234567"), "no regions: any mobile")
	assert.Error(t, SMSPolicy{}.Check("+19005550123"), "no regions: still no premium rate")
}

// TestTextBudgetPerClientAndInAll: a client spends its hour's budget and is
// refused with when the next hour begins; another client is not, until the
// budget of all is spent; the next hour starts afresh.
func TestTextBudgetPerClientAndInAll(t *testing.T) {
	clk := &signinClock{t: time.Date(2026, 11, 29, 9, 30, 0, 0, time.UTC)}
	b := &TextBudget{Store: daprx.Store[daily.Count]{Client: testkit.NewMemState(), Name: "s"}, Now: clk.now, PerHour: 3, PerClientPerHour: 2}
	ctx := context.Background()
	require.NoError(t, b.Spend(ctx, "198.51.100.1"))
	require.NoError(t, b.Spend(ctx, "198.51.100.1"))
	err := b.Spend(ctx, "198.51.100.1")
	require.Equal(t, errs.TooManyRequests, errs.KindOf(err), "the client's third: %v", err)
	assert.Equal(t, 30*time.Minute, errs.RetryAfterOf(err))
	require.NoError(t, b.Spend(ctx, "203.0.113.9"), "another client")
	err = b.Spend(ctx, "203.0.113.10")
	assert.Equal(t, errs.TooManyRequests, errs.KindOf(err), "the hour's budget of all: %v", err)
	clk.add(31 * time.Minute)
	assert.NoError(t, b.Spend(ctx, "198.51.100.1"), "the next hour")
}
