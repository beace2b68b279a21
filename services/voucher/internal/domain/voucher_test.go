package domain

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
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
			assert.Equal(t, Voucher{RequestID: "r1", PhoneNumber: "+84909123450", VoucherCode: "C", Status: Status(c.ev.Status), RequestedAt: t0, IssuedAt: t0}, v, c.name)
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

func TestPhoneIndexIsFullAtPageSize(t *testing.T) {
	var ix PhoneIndex
	for i := range PageSize {
		assert.False(t, ix.Full(), "after %d ids", i)
		ix, _ = ix.With(fmt.Sprint("r", i))
	}
	assert.True(t, ix.Full())
	assert.True(t, ix.Has("r0"))
	assert.False(t, ix.Has("r-other"))
}

func TestLimit(t *testing.T) {
	for _, c := range []struct {
		asked, want int
		kind        errs.Kind
	}{
		{0, DefaultLimit, 0}, {1, 1, 0}, {MaxLimit, MaxLimit, 0},
		{MaxLimit + 1, 0, errs.Invalid}, {-1, 0, errs.Invalid},
	} {
		got, err := Limit(c.asked)
		if c.kind != 0 {
			assert.Equal(t, c.kind, errs.KindOf(err), "limit %d", c.asked)
			continue
		}
		assert.NoError(t, err, "limit %d", c.asked)
		assert.Equal(t, c.want, got, "limit %d", c.asked)
	}
}

func TestCursorReadsBackOnlyWhatItWrote(t *testing.T) {
	for _, c := range []Cursor{{0, 1}, {7, PageSize}, {LegacyPage, 1}, {LegacyPage, 20000}} {
		got, err := ParseCursor(c.String())
		assert.NoError(t, err, "%+v", c)
		assert.Equal(t, c, got)
	}
	token := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, bad := range []string{
		"", "!!", token("v1.3"), token("v2.3.4"), token("v1.x.4"), token("v1.3.0"), token("v1.-2.4"),
		token("v1.3.101"), token("v1.03.4"), token("v1.+3.4"), token("3.4"), token("v1.3.4") + "=",
	} {
		_, err := ParseCursor(bad)
		assert.Equal(t, errs.Invalid, errs.KindOf(err), "cursor %q", bad)
	}
}
