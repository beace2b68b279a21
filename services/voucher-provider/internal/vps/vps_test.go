package vps

import (
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/bankabc/vouchers/kit/pkce"
	"github.com/bankabc/vouchers/kit/vpsapi"
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
		if c != first {
			t.Fatalf("two codes for one requestId: %s and %s", first, c)
		}
	}
	o, _ := p.Get("r1")
	if o.Calls != 50 || o.CodesIssued != 1 {
		t.Fatalf("calls %d codes %d", o.Calls, o.CodesIssued)
	}
}

func TestModes(t *testing.T) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var scheduled []vpsapi.Callback
	var at []time.Time
	p := New(cfg, c.now, func(when time.Time, cb vpsapi.Callback) { at = append(at, when); scheduled = append(scheduled, cb) })

	t.Run("immediate_answers_with_the_code", func(t *testing.T) {
		if a := p.Request("i", "+84909123450"); a.Kind != "code" || a.Order.VoucherCode == "" {
			t.Fatalf("%+v", a)
		}
	})
	t.Run("late_acks_with_s256_challenge_and_schedules_one_callback", func(t *testing.T) {
		a := p.Request("l", "+84909123455")
		again := p.Request("l", "+84909123455")
		if a.Kind != "ack" || a.TransformMethod != "S256" || a.HoldFor != cfg.AckAfter || a.Order.VoucherCode != "" {
			t.Fatalf("%+v", a)
		}
		if len(scheduled) != 1 || again.CodeChallenge != a.CodeChallenge {
			t.Fatalf("scheduled %d callbacks; challenges %s %s", len(scheduled), a.CodeChallenge, again.CodeChallenge)
		}
		if pkce.Challenge(scheduled[0].CodeVerifier) != a.CodeChallenge || !at[0].Equal(c.t.Add(cfg.LateAfter)) {
			t.Fatalf("verifier does not match the challenge, or callback at %v", at[0])
		}
		if o, _ := p.Get("l"); o.Status != StatusPending {
			t.Fatalf("status before the callback %s", o.Status)
		}
	})
	t.Run("very_late_calls_back_after_the_lateness_limit", func(t *testing.T) {
		p.Request("v", "+84909123456")
		if !at[1].Equal(c.t.Add(cfg.VeryLateAfter)) {
			t.Fatalf("callback at %v", at[1])
		}
	})
	t.Run("error_fails_and_records_nothing_until_it_recovers", func(t *testing.T) {
		if a := p.Request("e", "+84909123457"); a.Kind != "error" {
			t.Fatalf("%+v", a)
		}
		if _, ok := p.Get("e"); ok {
			t.Fatal("a failing provider recorded the order")
		}
	})
	t.Run("hang_holds_and_reads_pending", func(t *testing.T) {
		a := p.Request("h", "+84909123458")
		if a.Kind != "hang" || a.HoldFor != cfg.RecoverAfter {
			t.Fatalf("%+v", a)
		}
		if o, _ := p.Get("h"); o.Status != StatusPending {
			t.Fatalf("%+v", o)
		}
	})
	t.Run("down_never_recovers", func(t *testing.T) {
		c.t = c.t.Add(time.Hour)
		if a := p.Request("d", "+84909123459"); a.Kind != "error" {
			t.Fatalf("%+v", a)
		}
	})
	t.Run("after_recovery_error_and_hang_issue_one_code", func(t *testing.T) {
		if a := p.Request("e", "+84909123457"); a.Kind != "code" || a.Order.VoucherCode == "" {
			t.Fatalf("error mode after recovery: %+v", a)
		}
		h, _ := p.Get("h")
		if h.Status != StatusSuccess || h.VoucherCode == "" || h.CodesIssued != 1 {
			t.Fatalf("hang mode after recovery: %+v", h)
		}
		if l, _ := p.Get("l"); l.Status != StatusSuccess || l.VoucherCode != scheduled[0].VoucherCode {
			t.Fatalf("late order after its time: %+v", l)
		}
	})
}

func TestCodeFormat(t *testing.T) {
	if c := newCode(); !regexp.MustCompile(`^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$`).MatchString(c) {
		t.Fatalf("code %q", c)
	}
}

func TestOutageFailsEverythingAndRecordsNothingUntilItEnds(t *testing.T) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := New(cfg, c.now, nil)
	if err := p.Outage(Error, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if a := p.Request("r1", "+84909123450"); a.Kind != "error" {
		t.Fatalf("%+v", a)
	}
	if _, ok := p.Get("r1"); ok {
		t.Fatal("recorded during an outage")
	}
	_ = p.Outage(Hang, 5*time.Second)
	if a := p.Request("r1", "+84909123450"); a.Kind != "outage-hang" || a.HoldFor != 5*time.Second {
		t.Fatalf("%+v", a)
	}
	c.t = c.t.Add(6 * time.Second)
	if a := p.Request("r1", "+84909123450"); a.Kind != "code" || a.Order.CodesIssued != 1 {
		t.Fatalf("after the outage: %+v", a)
	}
	if err := p.Outage(Late, time.Second); err == nil {
		t.Fatal("a late outage was accepted")
	}
}
