package domain

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/pkce"
)

var (
	t0    = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	rules = Rules{LateAfter: 30 * time.Second, Deadline: 2 * time.Minute, RecheckEvery: 10 * time.Second, Lease: 7 * time.Second}
)

// open is a fresh order requested at t0.
func open(t *testing.T) Order {
	t.Helper()
	o, err := rules.Open(events.RequestCode{RequestID: "r1", UserID: "u1", PhoneNumber: "+84909123450", RequestedAt: t0}, "tp", t0)
	require.NoError(t, err)
	return o
}

func TestOpen(t *testing.T) {
	o := open(t)
	assert.Equal(t, StatusPending, o.Status)
	assert.False(t, o.Final())
	assert.Equal(t, t0.Add(rules.Deadline), o.Deadline, "deadline from the request's time")
	assert.Equal(t, t0.Add(rules.RecheckEvery), o.NextCheckAt, "first look")
	assert.Equal(t, "tp", o.TraceParent)
	for _, ev := range []events.RequestCode{{PhoneNumber: "+84909123450"}, {RequestID: "r1"}} {
		_, err := rules.Open(ev, "", t0)
		assert.Equal(t, errs.Invalid, errs.KindOf(err), "%+v", ev)
	}
}

func TestComplete(t *testing.T) {
	cases := []struct {
		name       string
		at         time.Duration
		want       OrderStatus
		lateAfter0 bool
	}{
		{"in time", time.Second, StatusSuccess, false},
		{"at the lateness mark", 30 * time.Second, StatusSuccess, false},
		{"past it", 31 * time.Second, StatusLateSuccess, false},
		{"past the deadline, still open (a late callback)", 3 * time.Minute, StatusLateSuccess, false},
		{"no lateness rule", time.Hour, StatusSuccess, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rules
			if c.lateAfter0 {
				r.LateAfter = 0
			}
			o, ev, changed := r.Complete(open(t), "CODE", ViaCallback, t0.Add(c.at))
			require.True(t, changed)
			assert.Equal(t, c.want, o.Status)
			assert.Equal(t, "CODE", o.VoucherCode)
			assert.Equal(t, ViaCallback, o.Via)
			require.NotNil(t, ev)
			assert.Equal(t, events.ReceiveCode{RequestID: "r1", PhoneNumber: "+84909123450", Status: string(c.want),
				VoucherCode: "CODE", RequestedAt: t0, IssuedAt: t0.Add(c.at)}, *ev)
		})
	}
}

func TestAnOutcomeIsRecordedOnce(t *testing.T) {
	done, _, _ := rules.Complete(open(t), "FIRST", ViaAnswer, t0.Add(time.Second))
	failed, _, _ := open(t).Fail("refused", t0.Add(time.Second))
	for name, o := range map[string]Order{"completed": done, "failed": failed} {
		again, ev, changed := rules.Complete(o, "SECOND", ViaReconciler, t0.Add(time.Minute))
		assert.False(t, changed, "%s: completed again", name)
		assert.Nil(t, ev, name)
		assert.Equal(t, o, again, name)
		again, ev, changed = o.Fail("late failure", t0.Add(time.Minute))
		assert.False(t, changed, "%s: failed again", name)
		assert.Nil(t, ev, name)
		assert.Equal(t, o, again, name)
	}
}

func TestFail(t *testing.T) {
	o, ev, changed := open(t).Fail("the provider refused the order", t0.Add(time.Second))
	require.True(t, changed)
	assert.True(t, o.Final())
	assert.Equal(t, events.ReceiveCode{RequestID: "r1", PhoneNumber: "+84909123450", Status: events.StatusFailed,
		Reason: "the provider refused the order", RequestedAt: t0, IssuedAt: t0.Add(time.Second)}, *ev)
}

func TestAgain(t *testing.T) {
	acked, _ := open(t).Acknowledge("challenge", "S256", t0)
	done, _, _ := rules.Complete(open(t), "CODE", ViaAnswer, t0)
	failed, _, _ := open(t).Fail("x", t0)
	cases := map[string]struct {
		o    Order
		want Again
	}{
		"never answered: ask again":            {open(t), AgainAsk},
		"acknowledged: its callback will come": {acked, AgainNothing},
		"finished with a code: publish again":  {done, AgainPublish},
		"failed: publish again":                {failed, AgainPublish},
	}
	for name, c := range cases {
		assert.Equal(t, c.want, c.o.Again(), name)
	}
}

func TestAcknowledge(t *testing.T) {
	o, changed := open(t).Acknowledge("challenge", "S256", t0.Add(time.Second))
	require.True(t, changed)
	assert.Equal(t, "challenge", o.CodeChallenge)
	_, changed = o.Acknowledge("another", "S256", t0.Add(2*time.Second))
	assert.False(t, changed, "a second acknowledgement replaces nothing")
	done, _, _ := rules.Complete(open(t), "CODE", ViaAnswer, t0)
	_, changed = done.Acknowledge("challenge", "S256", t0)
	assert.False(t, changed, "a finished order takes no challenge")
}

func TestVerifyCallback(t *testing.T) {
	verifier := "a-verifier-of-enough-length-0123456789-abcdefghijklmnop"
	acked, _ := open(t).Acknowledge(pkce.Challenge(verifier), "S256", t0)
	done, _, _ := rules.Complete(acked, "CODE", ViaCallback, t0.Add(time.Second))
	failedAtDeadline, _, _ := acked.Fail(rules.DeadlineReason(), t0.Add(3*time.Minute))
	cases := []struct {
		name     string
		o        Order
		verifier string
		want     error
	}{
		{"the right verifier", acked, verifier, nil},
		{"a wrong verifier", acked, verifier + "x", ErrNotVerified},
		{"an order never acknowledged", open(t), verifier, ErrNotVerified},
		{"an unknown order", Order{}, verifier, ErrNotVerified},
		{"a replay after the code", done, verifier, ErrHasOutcome},
		{"a late callback after the deadline failed it", failedAtDeadline, verifier, ErrHasOutcome},
	}
	for _, c := range cases {
		err := c.o.VerifyCallback(c.verifier)
		assert.True(t, errors.Is(err, c.want) || err == c.want, "%s: %v, want %v", c.name, err, c.want)
	}
}

func TestClaim(t *testing.T) {
	o := open(t) // next look at t0+10s
	due := t0.Add(rules.RecheckEvery)
	heldByB, _ := rules.Claim(o, "b", due)
	done, _, _ := rules.Complete(o, "CODE", ViaAnswer, t0)
	cases := []struct {
		name     string
		o        Order
		instance string
		at       time.Time
		want     Claim
	}{
		{"not due yet", o, "a", t0.Add(time.Second), NotDue},
		{"due", o, "a", due, Claimed},
		{"held by another replica", heldByB, "a", due.Add(time.Second), NotDue},
		{"held by this replica", heldByB, "b", due.Add(time.Second), Claimed},
		{"another replica's claim ran out", heldByB, "a", due.Add(rules.Lease), Claimed},
		{"finished", done, "a", due, Finished},
		{"gone", Order{}, "a", due, Finished},
	}
	for _, c := range cases {
		got, claim := rules.Claim(c.o, c.instance, c.at)
		assert.Equal(t, c.want, claim, c.name)
		if claim == Claimed {
			assert.Equal(t, c.instance, got.ClaimedBy, c.name)
			assert.Equal(t, c.at.Add(rules.Lease), got.ClaimedUntil, c.name)
			assert.Equal(t, c.o.Checks+1, got.Checks, c.name)
		} else {
			assert.Equal(t, c.o, got, "%s: unchanged", c.name)
		}
	}
}

func TestRelease(t *testing.T) {
	claimed, _ := rules.Claim(open(t), "a", t0.Add(rules.RecheckEvery))
	now := t0.Add(rules.RecheckEvery + time.Second)
	o, changed := rules.Release(claimed, now)
	require.True(t, changed)
	assert.True(t, o.ClaimedUntil.IsZero())
	assert.Equal(t, now.Add(rules.RecheckEvery), o.NextCheckAt)
	done, _, _ := rules.Complete(claimed, "CODE", ViaReconciler, now)
	_, changed = rules.Release(done, now)
	assert.False(t, changed, "a finished order is not released")
}

func TestDecide(t *testing.T) {
	o := open(t)
	before, after := t0.Add(time.Minute), t0.Add(3*time.Minute)
	down := errs.E(errs.Unavailable, "503")
	cases := []struct {
		name string
		st   ProviderStatus
		err  error
		at   time.Time
		want Step
	}{
		{"the provider has the code", ProviderStatus{Found: true, Status: "SUCCESS", VoucherCode: "C"}, nil, before, StepComplete},
		{"still pending there", ProviderStatus{Found: true, Status: "PENDING"}, nil, before, StepWait},
		{"never recorded there", ProviderStatus{}, nil, before, StepOrderAgain},
		{"the provider cannot say", ProviderStatus{}, down, before, StepWait},
		{"past the deadline, pending", ProviderStatus{Found: true, Status: "PENDING"}, nil, after, StepFail},
		{"past the deadline, provider down", ProviderStatus{}, down, after, StepFail},
		{"past the deadline, never recorded", ProviderStatus{}, nil, after, StepFail},
		{"past the deadline, but the code is there: never dropped", ProviderStatus{Found: true, Status: "SUCCESS", VoucherCode: "C"}, nil, after, StepComplete},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, rules.Decide(o, c.st, c.err, c.at), c.name)
	}
	assert.Equal(t, "no voucher code from the provider within 2m0s", rules.DeadlineReason())
}

func TestCheckCallback(t *testing.T) {
	long := func(n int) string { return strings.Repeat("v", n) }
	cases := []struct {
		name                      string
		requestID, verifier, code string
		ok                        bool
	}{
		{"a full answer", "r1", long(43), "CODE", true},
		{"a failure carries no code", "r1", long(43), "", true},
		{"the longest verifier", "r1", long(128), "CODE", true},
		{"no requestId", "", long(43), "CODE", false},
		{"no verifier", "r1", "", "CODE", false},
		{"a verifier past 128", "r1", long(129), "CODE", false},
		{"a code past 64", "r1", long(43), long(65), false},
	}
	for _, c := range cases {
		err := CheckCallback(c.requestID, c.verifier, c.code)
		if c.ok {
			assert.NoError(t, err, c.name)
		} else {
			assert.Equal(t, errs.Invalid, errs.KindOf(err), "%s: %v", c.name, err)
		}
	}
}

func TestReadLate(t *testing.T) {
	cases := []struct {
		name, status, message, code string
		want                        Late
		invalid                     bool
	}{
		{"a code", events.StatusSuccess, "", "CODE", Late{Code: "CODE"}, false},
		{"no status is a success", "", "", "CODE", Late{Code: "CODE"}, false},
		{"a success without its code", events.StatusSuccess, "", "", Late{}, true},
		{"a failure, with the provider's words", events.StatusFailed, "out of stock", "",
			Late{Failed: true, Reason: "the provider reported FAILED: out of stock"}, false},
		{"any other status fails it too", "EXPIRED", "too late", "CODE",
			Late{Failed: true, Reason: "the provider reported EXPIRED: too late"}, false},
	}
	for _, c := range cases {
		got, err := ReadLate(c.status, c.message, c.code)
		if c.invalid {
			assert.Equal(t, errs.Invalid, errs.KindOf(err), "%s: %v", c.name, err)
			continue
		}
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, got, c.name)
	}
}
