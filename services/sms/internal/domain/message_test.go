package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
)

func TestNewMessage(t *testing.T) {
	ok := events.SendSMS{MessageID: "voucher-r1", PhoneNumber: "+84909123450", Text: "Your code: C"}
	cases := []struct {
		name  string
		ev    events.SendSMS
		valid bool
	}{
		{"complete", ok, true},
		{"no id", events.SendSMS{PhoneNumber: ok.PhoneNumber, Text: ok.Text}, false},
		{"no number", events.SendSMS{MessageID: ok.MessageID, Text: ok.Text}, false},
		{"no text", events.SendSMS{MessageID: ok.MessageID, PhoneNumber: ok.PhoneNumber}, false},
	}
	for _, c := range cases {
		m, err := NewMessage(c.ev)
		if c.valid {
			assert.NoError(t, err, c.name)
			assert.Equal(t, Message{MessageID: c.ev.MessageID, PhoneNumber: c.ev.PhoneNumber, Text: c.ev.Text}, m, c.name)
			continue
		}
		assert.Equal(t, errs.Invalid, errs.KindOf(err), c.name)
	}
}

func TestCheckID(t *testing.T) {
	assert.NoError(t, CheckID(strings.Repeat("é", MaxMessageIDLen)), "at the limit, in characters")
	assert.Equal(t, errs.Invalid, errs.KindOf(CheckID(strings.Repeat("x", MaxMessageIDLen+1))), "past it")
	assert.Equal(t, errs.Invalid, errs.KindOf(CheckID("")), "empty")
}

func TestKindAndSent(t *testing.T) {
	for id, want := range map[string]Kind{"voucher-r1": KindVoucher, "phone-code-u1-3": KindPhoneCode, "notice-1": KindOther} {
		assert.Equal(t, want, KindOf(id), id)
	}
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	m, _ := NewMessage(events.SendSMS{MessageID: "voucher-r1", PhoneNumber: "+84909123450", Text: "t"})
	assert.Equal(t, KindVoucher, m.Kind())
	assert.Equal(t, Sent{MessageID: "voucher-r1", PhoneNumber: "+84909123450", SentAt: now}, m.SentAt(now))
}
