package ports

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	purchasedomain "github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// TestVoucherTextsAreCappedPerNumberPerDay: no budget counted these texts
// (issue 28, finding 4b). Refusal comes before anything is bought.
func TestVoucherTextsAreCappedPerNumberPerDay(t *testing.T) {
	e := newEnvFrom(t, map[string]string{"VOUCHER_TEXTS_PER_NUMBER_PER_DAY": "3"}, nil)
	tok := e.signUp(t, "alice", "0909123456")
	bySMS := `{"phoneNumber":"0909123456"}`
	for i := range 3 {
		rec := e.do("POST", "/voucher", bySMS, map[string]string{"Authorization": "Bearer " + tok, "Idempotency-Key": fmt.Sprint("k", i)})
		require.Equal(t, 202, rec.Code, "purchase %d: %s", i, rec.Body)
	}
	ordered := len(e.bus.Events(events.TopicRequestCode))

	rec := e.do("POST", "/voucher", bySMS, bearer(tok))
	require.Equal(t, 429, rec.Code, "past the budget: %s", rec.Body)
	p := problemOf(t, rec)
	assert.Contains(t, p.Detail, "daily text budget for this number")
	assert.Contains(t, p.Detail, "callbackUrl")
	assert.Equal(t, fmt.Sprint(int((15 * time.Hour).Seconds())), rec.Header().Get("Retry-After"), "until midnight UTC")
	assert.Len(t, e.bus.Events(events.TopicRequestCode), ordered, "a refused purchase ordered a voucher")

	replay := e.do("POST", "/voucher", bySMS, map[string]string{"Authorization": "Bearer " + tok, "Idempotency-Key": "k0"})
	assert.Equal(t, 202, replay.Code, "a replay sends no second text: %s", replay.Body)
	hook := e.do("POST", "/voucher", `{"phoneNumber":"0909123456","callbackUrl":"https://shop.example/hook"}`, bearer(tok))
	assert.Equal(t, 202, hook.Code, "with a callbackUrl: %s", hook.Body)

	e.clock.add(15 * time.Hour)
	tok = e.signIn(t, "alice", "long enough pw")
	assert.Equal(t, 202, e.do("POST", "/voucher", bySMS, bearer(tok)).Code, "the next day")
}

// TestAFallbackTextSpendsTheNumbersBudget: every text counts (issue 28,
// finding 4b).
func TestAFallbackTextSpendsTheNumbersBudget(t *testing.T) {
	e := newEnvFrom(t, map[string]string{"VOUCHER_TEXTS_PER_NUMBER_PER_DAY": "1"}, nil)
	e.webhooks.answer = func(int) purchasedomain.WebhookResult { return purchasedomain.WebhookResult{Err: "answered 500"} }
	tok := e.signUp(t, "alice", "0909123456")
	e.buyAndComplete(t, tok, `{"phoneNumber":"0909123456","callbackUrl":"https://shop.example/hook"}`, "SUCCESS")
	ctx := context.Background()
	for range 4 { // the schedule's retries, then SMS
		e.clock.add(time.Minute)
		_, err := e.sweep(ctx)
		require.NoError(t, err)
	}
	require.Len(t, e.smsSent(t), 1, "the code went by SMS")
	rec := e.do("POST", "/voucher", `{"phoneNumber":"0909123456"}`, bearer(tok))
	assert.Equal(t, 429, rec.Code, "the fallback spent the number's one text of the day: %s", rec.Body)
}
