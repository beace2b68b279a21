package ports

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bankabc/vouchers/kit/errs"
	purchase "github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
)

// TestVoucherListPassesItsPageOn: ?limit= and ?cursor= reach the voucher
// service as they were given; ones the document refuses never leave the
// gateway, and a cursor the voucher service refuses is the caller's 400.
func TestVoucherListPassesItsPageOn(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp(t, "alice", "0909123456")
	var asked []purchase.VoucherPage
	e.vouchers.byPhone = func(phone string, page purchase.VoucherPage) (purchase.VoucherList, error) {
		if page.Cursor == "refused" {
			return nil, errs.E(errs.Invalid, "cursor is not one this list gave: start again without it")
		}
		asked = append(asked, page)
		return purchase.VoucherList(`{"phoneNumber":"` + phone + `","vouchers":[],"nextCursor":"djEuMC4x"}`), nil
	}
	ok := []struct {
		query string
		want  purchase.VoucherPage
	}{
		{"", purchase.VoucherPage{}},
		{"&limit=1", purchase.VoucherPage{Limit: 1}},
		{"&limit=100&cursor=djEuMy40", purchase.VoucherPage{Limit: 100, Cursor: "djEuMy40"}},
		{"&cursor=djEuMy40", purchase.VoucherPage{Cursor: "djEuMy40"}},
	}
	for _, c := range ok {
		rec := e.do("GET", "/voucher?phoneNumber=0909123456"+c.query, "", bearer(tok))
		if assert.Equal(t, 200, rec.Code, "%q: %s", c.query, rec.Body) {
			assert.JSONEq(t, `{"phoneNumber":"+84909123456","vouchers":[],"nextCursor":"djEuMC4x"}`, rec.Body.String(), c.query)
		}
	}
	want := make([]purchase.VoucherPage, len(ok))
	for i, c := range ok {
		want[i] = c.want
	}
	assert.Equal(t, want, asked, "the pages the voucher service was asked for")

	asked = nil
	for _, c := range []struct{ query, detail string }{
		{"&limit=0", "limit"},
		{"&limit=101", "limit"},
		{"&limit=ten", "limit"},
		{"&limit=1.5", "limit"},
		{"&cursor=", "cursor"},
		{"&cursor=a%2Fb", "cursor"},
		{"&cursor=" + strings.Repeat("a", 65), "cursor"},
		{"&cursor=refused", "cursor is not one this list gave"},
	} {
		rec := e.do("GET", "/voucher?phoneNumber=0909123456"+c.query, "", bearer(tok))
		assert.Equal(t, 400, rec.Code, "%q: %s", c.query, rec.Body)
		assert.Contains(t, problemOf(t, rec).Detail, c.detail, c.query)
	}
	assert.Empty(t, asked, "refused pages reached the voucher service")
}
