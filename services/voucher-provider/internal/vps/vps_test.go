package vps

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/vpsapi"
	"github.com/bankabc/vouchers/kit/pkce"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

var cfg = Config{AckAfter: 2500 * time.Millisecond, LateAfter: 10 * time.Second,
	VeryLateAfter: 40 * time.Second, RecoverAfter: 20 * time.Second}

func TestSameRequestIDNeverMakesASecondCode(t *testing.T) {
	p := New(cfg, time.Now, nil)
	var wg sync.WaitGroup
	codes := make(chan string, 50)
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); codes <- p.Request("r1", "+84909123450").Order.VoucherCode }()
	}
	wg.Wait()
	close(codes)
	first := <-codes
	for c := range codes {
		assert.Equal(t, first, c, "two codes for one requestId")
	}
	o, _ := p.Get("r1")
	assert.Equal(t, 50, o.Calls, "calls")
	assert.Equal(t, 1, o.CodesIssued, "codes")
}

func TestModes(t *testing.T) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var scheduled []vpsapi.Callback
	var at []time.Time
	p := New(cfg, c.now, func(when time.Time, cb vpsapi.Callback) { at = append(at, when); scheduled = append(scheduled, cb) })

	t.Run("immediate_answers_with_the_code", func(t *testing.T) {
		a := p.Request("i", "+84909123450")
		assert.Equal(t, AnswerCode, a.Kind, "%+v", a)
		assert.NotEmpty(t, a.Order.VoucherCode, "%+v", a)
	})
	t.Run("late_acks_with_s256_challenge_and_schedules_one_callback", func(t *testing.T) {
		a := p.Request("l", "+84909123455")
		again := p.Request("l", "+84909123455")
		assert.Equal(t, AnswerAck, a.Kind, "%+v", a)
		assert.Equal(t, "S256", a.TransformMethod, "%+v", a)
		assert.Equal(t, cfg.AckAfter, a.HoldFor, "%+v", a)
		assert.Empty(t, a.Order.VoucherCode, "%+v", a)
		assert.Equal(t, a.CodeChallenge, again.CodeChallenge, "challenges of the two answers")
		o, _ := p.Get("l")
		assert.Equal(t, StatusPending, o.Status, "status before the callback")
		require.Len(t, scheduled, 1, "scheduled callbacks")
		assert.Equal(t, a.CodeChallenge, pkce.Challenge(scheduled[0].CodeVerifier), "verifier does not match the challenge")
		assert.True(t, at[0].Equal(c.t.Add(cfg.LateAfter)), "callback at %v, want %v", at[0], c.t.Add(cfg.LateAfter))
	})
	t.Run("very_late_calls_back_after_the_lateness_limit", func(t *testing.T) {
		p.Request("v", "+84909123456")
		assert.True(t, at[1].Equal(c.t.Add(cfg.VeryLateAfter)), "callback at %v, want %v", at[1], c.t.Add(cfg.VeryLateAfter))
	})
	t.Run("error_fails_and_records_nothing_until_it_recovers", func(t *testing.T) {
		a := p.Request("e", "+84909123457")
		assert.Equal(t, AnswerError, a.Kind, "%+v", a)
		_, ok := p.Get("e")
		assert.False(t, ok, "a failing provider recorded the order")
	})
	t.Run("hang_holds_and_reads_pending", func(t *testing.T) {
		a := p.Request("h", "+84909123458")
		assert.Equal(t, AnswerHang, a.Kind, "%+v", a)
		assert.Equal(t, cfg.RecoverAfter, a.HoldFor, "%+v", a)
		o, _ := p.Get("h")
		assert.Equal(t, StatusPending, o.Status, "%+v", o)
	})
	t.Run("down_never_recovers", func(t *testing.T) {
		c.t = c.t.Add(time.Hour)
		a := p.Request("d", "+84909123459")
		assert.Equal(t, AnswerError, a.Kind, "%+v", a)
	})
	t.Run("after_recovery_error_and_hang_issue_one_code", func(t *testing.T) {
		a := p.Request("e", "+84909123457")
		assert.Equal(t, AnswerCode, a.Kind, "error mode after recovery: %+v", a)
		assert.NotEmpty(t, a.Order.VoucherCode, "error mode after recovery: %+v", a)
		h, _ := p.Get("h")
		assert.Equal(t, StatusSuccess, h.Status, "hang mode after recovery: %+v", h)
		assert.NotEmpty(t, h.VoucherCode, "hang mode after recovery: %+v", h)
		assert.Equal(t, 1, h.CodesIssued, "hang mode after recovery: %+v", h)
		l, _ := p.Get("l")
		assert.Equal(t, StatusSuccess, l.Status, "late order after its time: %+v", l)
		assert.Equal(t, scheduled[0].VoucherCode, l.VoucherCode, "late order after its time: %+v", l)
	})
}

func TestCodeFormat(t *testing.T) {
	assert.Regexp(t, `^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$`, newCode())
}

func TestOutageFailsEverythingAndRecordsNothingUntilItEnds(t *testing.T) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := New(cfg, c.now, nil)
	require.NoError(t, p.Outage(Error, 10*time.Second))
	a := p.Request("r1", "+84909123450")
	assert.Equal(t, AnswerError, a.Kind, "%+v", a)
	_, ok := p.Get("r1")
	assert.False(t, ok, "recorded during an outage")
	_ = p.Outage(Hang, 5*time.Second)
	a = p.Request("r1", "+84909123450")
	assert.Equal(t, AnswerOutageHang, a.Kind, "%+v", a)
	assert.Equal(t, 5*time.Second, a.HoldFor, "%+v", a)
	c.t = c.t.Add(6 * time.Second)
	a = p.Request("r1", "+84909123450")
	assert.Equal(t, AnswerCode, a.Kind, "after the outage: %+v", a)
	assert.Equal(t, 1, a.Order.CodesIssued, "after the outage: %+v", a)
	assert.Error(t, p.Outage(Late, time.Second), "a late outage was accepted")
}
