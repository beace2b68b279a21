package app

import (
	"context"
	"testing"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/testkit"
)

func newApp() App {
	mem := testkit.NewMemState()
	return App{
		Vouchers: daprx.Store[Voucher]{Client: mem, Name: "voucher-store"},
		Indexes:  daprx.Store[PhoneIndex]{Client: mem, Name: "voucher-store"},
	}
}

func received(id, phone, code string, at time.Time) events.ReceiveCode {
	return events.ReceiveCode{RequestID: id, PhoneNumber: phone, Status: events.StatusSuccess, VoucherCode: code, IssuedAt: at}
}

func TestRedeliveredEventStoresOneVoucher(t *testing.T) {
	a, ctx := newApp(), context.Background()
	ev := received("r1", "+84909123456", "AAAA-BBBB-CCCC", time.Now())
	for range 3 {
		if err := a.Store(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := a.ByPhone(ctx, "+84909123456")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].VoucherCode != "AAAA-BBBB-CCCC" {
		t.Fatalf("vouchers %+v", vs)
	}
}

func TestRedeliveryKeepsTheFirstCode(t *testing.T) {
	a, ctx := newApp(), context.Background()
	_ = a.Store(ctx, received("r1", "+84909123456", "FIRST-CODE", time.Now()))
	_ = a.Store(ctx, received("r1", "+84909123456", "OTHER-CODE", time.Now()))
	vs, _ := a.ByPhone(ctx, "+84909123456")
	if len(vs) != 1 || vs[0].VoucherCode != "FIRST-CODE" {
		t.Fatalf("vouchers %+v", vs)
	}
}

func TestListsOnlyThatPhoneNewestFirst(t *testing.T) {
	a, ctx := newApp(), context.Background()
	t0 := time.Now()
	_ = a.Store(ctx, received("r1", "+84909123456", "C1", t0))
	_ = a.Store(ctx, received("r2", "+84909123456", "C2", t0.Add(time.Second)))
	_ = a.Store(ctx, received("r3", "+84909000000", "C3", t0))
	vs, _ := a.ByPhone(ctx, "+84909123456")
	if len(vs) != 2 || vs[0].RequestID != "r2" || vs[1].RequestID != "r1" {
		t.Fatalf("vouchers %+v", vs)
	}
}

func TestFailedOrderStoresNothingAndBadEventIsInvalid(t *testing.T) {
	a, ctx := newApp(), context.Background()
	if err := a.Store(ctx, events.ReceiveCode{RequestID: "r1", PhoneNumber: "+1", Status: events.StatusFailed}); err != nil {
		t.Fatal(err)
	}
	if vs, _ := a.ByPhone(ctx, "+1"); len(vs) != 0 {
		t.Fatalf("failed order stored %+v", vs)
	}
	err := a.Store(ctx, events.ReceiveCode{RequestID: "r2", Status: events.StatusSuccess})
	if errs.KindOf(err) != errs.Invalid {
		t.Fatalf("err %v, want Invalid (dead letter)", err)
	}
}
