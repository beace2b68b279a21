package domain

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
)

var t0 = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

func TestFinish(t *testing.T) {
	open := Request{RequestID: "r1", Status: events.StatusProcessing, State: StateProcessing, Progress: 10, CreatedAt: t0}
	now := t0.Add(time.Second)
	cases := []struct {
		name         string
		ev           events.ReceiveCode
		state        RequestState
		code, reason string
		wantErr      errs.Kind
		wantChanged  bool
	}{
		{"success", events.ReceiveCode{Status: events.StatusSuccess, VoucherCode: "C"}, StateSuccess, "C", "", 0, true},
		{"late success", events.ReceiveCode{Status: events.StatusLateSuccess, VoucherCode: "C"}, StateSuccess, "C", "", 0, true},
		{"failed", events.ReceiveCode{Status: events.StatusFailed, Reason: "refused"}, StateFailed, "", "refused", 0, true},
		{"an unknown status", events.ReceiveCode{Status: "MAYBE"}, StateProcessing, "", "", errs.Invalid, false},
	}
	for _, c := range cases {
		got, changed, err := open.Finish(c.ev, now)
		if c.wantErr != 0 {
			assert.Equal(t, c.wantErr, errs.KindOf(err), c.name)
			assert.Equal(t, open, got, "%s: unchanged", c.name)
			continue
		}
		require.NoError(t, err, c.name)
		assert.Equal(t, c.wantChanged, changed, c.name)
		assert.Equal(t, c.state, got.State, c.name)
		assert.Equal(t, c.code, got.VoucherCode, c.name)
		assert.Equal(t, c.reason, got.Reason, c.name)
		assert.Equal(t, RequestStatus(c.ev.Status), got.Status, c.name)
		assert.Equal(t, 100, got.Progress, c.name)
		require.NotNil(t, got.CompletedAt, c.name)
		assert.Equal(t, now, *got.CompletedAt, c.name)
	}
}

func TestARequestEndsOnce(t *testing.T) {
	open := Request{RequestID: "r1", Status: events.StatusProcessing, State: StateProcessing}
	done, _, _ := open.Finish(events.ReceiveCode{Status: events.StatusSuccess, VoucherCode: "FIRST"}, t0)
	for _, ev := range []events.ReceiveCode{
		{Status: events.StatusSuccess, VoucherCode: "FIRST"},  // redelivered
		{Status: events.StatusSuccess, VoucherCode: "SECOND"}, // a second outcome
		{Status: events.StatusFailed, Reason: "late failure"},
		{Status: "MAYBE"},
	} {
		got, changed, err := done.Finish(ev, t0.Add(time.Minute))
		assert.NoError(t, err, "%+v", ev)
		assert.False(t, changed, "%+v", ev)
		assert.Equal(t, done, got, "%+v", ev)
	}
}

func TestClaim(t *testing.T) {
	pending := Delivery{RequestID: "r1", Channel: ChannelWebhook, Status: DeliveryPending, NextAttemptAt: t0}
	claimed, _ := pending.Claim(t0, 10*time.Second)
	delivered := pending
	delivered.Status = DeliveryDelivered
	cases := []struct {
		name string
		d    Delivery
		at   time.Time
		want bool
	}{
		{"due", pending, t0, true},
		{"not due yet", pending, t0.Add(-time.Second), false},
		{"held by an attempt under way", claimed, t0.Add(time.Second), false},
		{"that attempt's lease ran out", claimed, t0.Add(10 * time.Second), true},
		{"delivered", delivered, t0, false},
	}
	for _, c := range cases {
		got, ok := c.d.Claim(c.at, 10*time.Second)
		assert.Equal(t, c.want, ok, c.name)
		if ok {
			assert.Equal(t, c.at.Add(10*time.Second), got.ClaimedUntil, c.name)
		} else {
			assert.Equal(t, c.d, got, "%s: unchanged", c.name)
		}
	}
}

// keptWebhooks stands in for the adapters' codec (which imports this
// package): a body is the key of the webhook it was written from.
type keptWebhooks map[string]Webhook

func (k keptWebhooks) Encode(w Webhook) ([]byte, error) {
	key := fmt.Sprintf("webhook-%d", len(k))
	k[key] = w
	return []byte(key), nil
}

func (k keptWebhooks) Decode(body []byte) (Webhook, error) {
	w, ok := k[string(body)]
	if !ok {
		return Webhook{}, fmt.Errorf("no webhook %q", body)
	}
	return w, nil
}

func TestRecord(t *testing.T) {
	codec := keptWebhooks{}
	body, _ := codec.Encode(Webhook{RequestID: "r1", Status: events.StatusLateSuccess, VoucherCode: "CODE"})
	pending := Delivery{RequestID: "r1", PhoneNumber: "+84909123450", Channel: ChannelWebhook, Status: DeliveryPending,
		Body: body, ClaimedUntil: t0.Add(time.Minute)}
	rules := WebhookRules{Schedule: []time.Duration{time.Second, 10 * time.Second}, MaxRetryAfter: time.Minute, Codec: codec}
	noJitter := func(int64) int64 { return 0 }
	fullJitter := func(n int64) int64 { return n - 1 }
	after := func(attempts int) Delivery { d := pending; d.Attempts = attempts; return d }
	delivered := pending
	delivered.Status = DeliveryDelivered

	cases := []struct {
		name      string
		d         Delivery
		res       WebhookResult
		jitter    func(int64) int64
		want      Attempt
		nextAfter time.Duration
	}{
		{"delivered at the first attempt", pending, WebhookResult{Delivered: true}, noJitter, AttemptDelivered, 0},
		{"first failure: the first step", pending, WebhookResult{Err: "HTTP 500"}, noJitter, AttemptRetry, time.Second},
		{"with the most jitter: 10% more", pending, WebhookResult{Err: "HTTP 500"}, fullJitter, AttemptRetry, time.Second + 100*time.Millisecond},
		{"second failure: the second step", after(1), WebhookResult{Err: "HTTP 500"}, noJitter, AttemptRetry, 10 * time.Second},
		{"a longer Retry-After is honoured", pending, WebhookResult{Err: "HTTP 429", RetryAfter: 30 * time.Second}, noJitter, AttemptRetry, 30 * time.Second},
		{"and capped", pending, WebhookResult{Err: "HTTP 429", RetryAfter: time.Hour}, noJitter, AttemptRetry, time.Minute},
		{"a shorter one is not", after(1), WebhookResult{Err: "HTTP 429", RetryAfter: time.Second}, noJitter, AttemptRetry, 10 * time.Second},
		{"a webhook that keeps failing: SMS", after(2), WebhookResult{Err: "no answer"}, noJitter, AttemptFellBack, 0},
		{"already delivered: nothing", delivered, WebhookResult{Err: "HTTP 500"}, noJitter, AttemptNone, 0},
	}
	for _, c := range cases {
		got, attempt, fallback, err := rules.Record(c.d, c.res, t0, c.jitter)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, attempt, c.name)
		if attempt == AttemptNone {
			assert.Equal(t, c.d, got, "%s: unchanged", c.name)
			continue
		}
		assert.Equal(t, c.d.Attempts+1, got.Attempts, c.name)
		assert.True(t, got.ClaimedUntil.IsZero(), "%s: the claim is given back", c.name)
		switch attempt {
		case AttemptNone: // checked above
		case AttemptDelivered:
			assert.Equal(t, DeliveryDelivered, got.Status, c.name)
			assert.Empty(t, got.LastError, c.name)
			assert.Nil(t, fallback, c.name)
		case AttemptRetry:
			assert.Equal(t, DeliveryPending, got.Status, c.name)
			assert.Equal(t, c.res.Err, got.LastError, c.name)
			assert.Equal(t, t0.Add(c.nextAfter), got.NextAttemptAt, c.name)
			assert.Nil(t, fallback, c.name)
		case AttemptFellBack:
			assert.Equal(t, DeliverySMSQueued, got.Status, c.name)
			assert.Equal(t, ChannelSMS, got.Channel, c.name)
			assert.True(t, got.FellBack, c.name)
			assert.Equal(t, &CodeSMS{Status: events.StatusLateSuccess, VoucherCode: "CODE"}, fallback, "%s: the SMS carries what the webhook did", c.name)
		}
	}

	broken := after(2)
	broken.Body = []byte("not a body")
	_, _, _, err := rules.Record(broken, WebhookResult{Err: "no answer"}, t0, noJitter)
	assert.Error(t, err, "a body that cannot be read cannot fall back")
}

func TestAccept(t *testing.T) {
	// Whatever the value held, an accepted request starts processing.
	stale := Request{RequestID: "r1", UserID: "u1", Username: "alice", PhoneNumber: "+84909123456",
		CallbackURL: "https://shop.example/hook", Fingerprint: "fp", TraceParent: "00-abc-def-01",
		Status: events.StatusSuccess, State: StateSuccess, Progress: 100, VoucherCode: "OLD", Reason: "old"}
	got, order := Accept(stale, t0)
	want := Request{RequestID: "r1", UserID: "u1", Username: "alice", PhoneNumber: "+84909123456",
		CallbackURL: "https://shop.example/hook", Fingerprint: "fp", TraceParent: "00-abc-def-01",
		Status: events.StatusProcessing, State: StateProcessing, CreatedAt: t0, UpdatedAt: t0}
	assert.Equal(t, want, got)
	assert.Equal(t, events.RequestCode{RequestID: "r1", UserID: "u1", PhoneNumber: "+84909123456", RequestedAt: t0}, order)
}

func TestBeginDelivery(t *testing.T) {
	now := t0.Add(time.Second)
	succeeded := Request{RequestID: "r1", Username: "alice", PhoneNumber: "+84909123456", Status: events.StatusSuccess,
		State: StateSuccess, VoucherCode: "CODE"}
	withHook := succeeded
	withHook.CallbackURL = "https://shop.example/hook"
	late := withHook
	late.Status = events.StatusLateSuccess
	failed := Request{RequestID: "r1", Status: events.StatusFailed, State: StateFailed}
	processing := Request{RequestID: "r1", Status: events.StatusProcessing, State: StateProcessing}
	cases := []struct {
		name    string
		req     Request
		ok      bool
		channel Channel
		sms     string // the text, when it goes by SMS
	}{
		{"a success with a callbackUrl goes by webhook", withHook, true, ChannelWebhook, ""},
		{"a success without one goes by SMS", succeeded, true, ChannelSMS, SuccessMessage + " Code: CODE"},
		{"a late success goes by SMS even with a callbackUrl", late, true, ChannelSMS, LateSuccessMessage + " Code: CODE"},
		{"a failed request has nothing to deliver", failed, false, "", ""},
		{"a request still processing has nothing to deliver", processing, false, "", ""},
	}
	for _, c := range cases {
		codec := keptWebhooks{}
		d, sms, ok, err := BeginDelivery(c.req, now, codec)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.ok, ok, c.name)
		if !ok {
			continue
		}
		assert.Equal(t, c.channel, d.Channel, c.name)
		assert.Equal(t, now, d.CreatedAt, c.name)
		switch c.channel {
		case ChannelWebhook:
			assert.Nil(t, sms, c.name)
			assert.Equal(t, DeliveryPending, d.Status, c.name)
			assert.Equal(t, now, d.NextAttemptAt, "%s: the first attempt is due at once", c.name)
			assert.Equal(t, "msg_r1", d.WebhookID, c.name)
			hook, err := codec.Decode(d.Body)
			require.NoError(t, err, c.name)
			assert.Equal(t, Webhook{RequestID: "r1", Status: events.StatusSuccess, State: StateSuccess,
				PhoneNumber: "+84909123456", VoucherCode: "CODE", Message: SuccessMessage, At: now}, hook, c.name)
		case ChannelSMS:
			require.NotNil(t, sms, c.name)
			assert.Equal(t, c.sms, sms.Text(), c.name)
			assert.Equal(t, DeliverySMSQueued, d.Status, c.name)
			require.NotNil(t, d.DeliveredAt, c.name)
			assert.Empty(t, d.Body, c.name)
		}
	}
}

func TestCustomersTakeTurnsInTheOrderTheirWebhooksCameDue(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	due := func(id, user string, s int) Delivery {
		return Delivery{RequestID: id, Username: user, NextAttemptAt: t0.Add(time.Duration(s) * time.Second)}
	}
	got := TakeTurns([]Delivery{due("m3", "mallory", 3), due("a2", "alice", 5), due("m1", "mallory", 1),
		due("b1", "bob", 2), due("m2", "mallory", 2), due("a1", "alice", 4)})
	var ids []string
	for _, d := range got {
		ids = append(ids, d.RequestID)
	}
	assert.Equal(t, []string{"m1", "b1", "a1", "m2", "a2", "m3"}, ids)
}

func TestAWebhookIsOverdueOnlyWhenPendingUnclaimedAndLate(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	w := WebhookRules{OverdueAfter: time.Minute}
	d := Delivery{Status: DeliveryPending, NextAttemptAt: t0}
	assert.False(t, w.Overdue(d, t0.Add(59*time.Second)), "not late enough")
	assert.True(t, w.Overdue(d, t0.Add(time.Minute)), "late")
	claimed := d
	claimed.ClaimedUntil = t0.Add(2 * time.Minute)
	assert.False(t, w.Overdue(claimed, t0.Add(90*time.Second)), "an attempt is under way")
	done := d
	done.Status = DeliveryDelivered
	assert.False(t, w.Overdue(done, t0.Add(time.Hour)), "delivered")
	assert.False(t, WebhookRules{}.Overdue(d, t0.Add(time.Hour)), "no OverdueAfter: never")
	_, attempt, _, err := w.GiveUp(d, t0.Add(time.Second))
	require.NoError(t, err)
	assert.Equal(t, AttemptNone, attempt, "GiveUp of one not overdue")
}
