package domain

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
)

func TestIssued(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	ok := events.ReceiveCode{RequestID: "r1", PhoneNumber: "+84909123450", Status: events.StatusSuccess, VoucherCode: "C", RequestedAt: t0, IssuedAt: t0}
	late, failed, noCode, noPhone := ok, ok, ok, ok
	late.Status = events.StatusLateSuccess
	failed.Status, failed.VoucherCode, failed.Reason = events.StatusFailed, "", "refused"
	noCode.VoucherCode = ""
	noPhone.PhoneNumber = ""
	cases := []struct {
		name   string
		ev     events.ReceiveCode
		issued bool
		kind   errs.Kind
	}{
		{"success", ok, true, 0},
		{"late success", late, true, 0},
		{"failed: no voucher", failed, false, 0},
		{"success without a code", noCode, false, errs.Invalid},
		{"success without a phone", noPhone, false, errs.Invalid},
	}
	for _, c := range cases {
		v, issued, err := Issued(c.ev)
		assert.Equal(t, c.issued, issued, c.name)
		if c.kind != 0 {
			assert.Equal(t, c.kind, errs.KindOf(err), c.name)
			continue
		}
		assert.NoError(t, err, c.name)
		if issued {
			assert.Equal(t, Voucher{RequestID: "r1", PhoneNumber: "+84909123450", VoucherCode: "C", Status: c.ev.Status, RequestedAt: t0, IssuedAt: t0}, v, c.name)
		}
	}
}

func TestPhoneIndexWith(t *testing.T) {
	ix, added := PhoneIndex{}.With("r1")
	assert.True(t, added)
	ix, added = ix.With("r2")
	assert.True(t, added)
	again, added := ix.With("r1")
	assert.False(t, added, "a redelivered event adds nothing")
	assert.Equal(t, ix, again)
	assert.Equal(t, []string{"r1", "r2"}, ix.RequestIDs)
}

func TestNewest(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	vs := Newest([]Voucher{{RequestID: "old", IssuedAt: t0}, {RequestID: "new", IssuedAt: t0.Add(time.Hour)}, {RequestID: "mid", IssuedAt: t0.Add(time.Minute)}})
	assert.Equal(t, []string{"new", "mid", "old"}, []string{vs[0].RequestID, vs[1].RequestID, vs[2].RequestID})
}
