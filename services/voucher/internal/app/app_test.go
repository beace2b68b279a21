package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/voucher/internal/adapters"
	"github.com/bankabc/vouchers/services/voucher/internal/domain"
)

func newApp() App {
	return newAppOn(testkit.NewMemState())
}

func newAppOn(mem *testkit.MemState) App {
	return App{
		Vouchers: adapters.NewVouchers(mem, "voucher-store"),
		Indexes:  adapters.NewIndexes(mem, "voucher-store"),
		Heads:    adapters.NewHeads(mem, "voucher-store"),
	}
}

// firstPage is the newest vouchers of phone, as many as a listing gives
// by default.
func firstPage(t *testing.T, a App, phone string) []domain.Voucher {
	t.Helper()
	p, err := a.ByPhone(context.Background(), phone, ListQuery{})
	require.NoError(t, err)
	return p.Vouchers
}

func received(id, phone, code string, at time.Time) events.ReceiveCode {
	return events.ReceiveCode{RequestID: id, PhoneNumber: phone, Status: events.StatusSuccess, VoucherCode: code, IssuedAt: at}
}

func TestRedeliveredEventStoresOneVoucher(t *testing.T) {
	a, ctx := newApp(), context.Background()
	ev := received("r1", "+84909123456", "AAAA-BBBB-CCCC", time.Now())
	for range 3 {
		require.NoError(t, a.Store(ctx, ev))
	}
	vs := firstPage(t, a, "+84909123456")
	require.Len(t, vs, 1, "vouchers")
	assert.Equal(t, "AAAA-BBBB-CCCC", vs[0].VoucherCode, "vouchers %+v", vs)
}

func TestRedeliveryKeepsTheFirstCode(t *testing.T) {
	a, ctx := newApp(), context.Background()
	_ = a.Store(ctx, received("r1", "+84909123456", "FIRST-CODE", time.Now()))
	_ = a.Store(ctx, received("r1", "+84909123456", "OTHER-CODE", time.Now()))
	vs := firstPage(t, a, "+84909123456")
	require.Len(t, vs, 1, "vouchers")
	assert.Equal(t, "FIRST-CODE", vs[0].VoucherCode, "vouchers %+v", vs)
}

func TestListsOnlyThatPhoneNewestFirst(t *testing.T) {
	a, ctx := newApp(), context.Background()
	t0 := time.Now()
	_ = a.Store(ctx, received("r1", "+84909123456", "C1", t0))
	_ = a.Store(ctx, received("r2", "+84909123456", "C2", t0.Add(time.Second)))
	_ = a.Store(ctx, received("r3", "+84909000000", "C3", t0))
	vs := firstPage(t, a, "+84909123456")
	require.Len(t, vs, 2, "vouchers")
	assert.Equal(t, "r2", vs[0].RequestID, "vouchers %+v", vs)
	assert.Equal(t, "r1", vs[1].RequestID, "vouchers %+v", vs)
}

func TestFailedOrderStoresNothingAndBadEventIsInvalid(t *testing.T) {
	a, ctx := newApp(), context.Background()
	require.NoError(t, a.Store(ctx, events.ReceiveCode{RequestID: "r1", PhoneNumber: "+1", Status: events.StatusFailed}))
	vs := firstPage(t, a, "+1")
	assert.Empty(t, vs, "failed order stored")
	err := a.Store(ctx, events.ReceiveCode{RequestID: "r2", Status: events.StatusSuccess})
	assert.Equal(t, errs.Invalid, errs.KindOf(err), "err %v, want Invalid (dead letter)", err)
}

// failingInsert and failingIndex fail every write of one of the two
// stores, as a service killed between the two writes of Store leaves them.
type failingInsert struct{ Vouchers }

func (failingInsert) Insert(context.Context, string, domain.Voucher, *persist.Event) error {
	return errs.E(errs.Unavailable, "store down")
}

type failingIndex struct{ Indexes }

func (failingIndex) Update(context.Context, string, func(*domain.PhoneIndex, bool) (*persist.Event, error)) (domain.PhoneIndex, error) {
	return domain.PhoneIndex{}, errs.E(errs.Unavailable, "store down")
}

// gateway tells the customer SUCCESS once voucher answers the voucher by
// its request: whichever write fails, a voucher that can be read is
// listed, and the redelivery finishes the job.
func TestAVoucherThatCanBeReadIsListed(t *testing.T) {
	for name, breakIt := range map[string]func(*App){
		"voucher write fails": func(a *App) { a.Vouchers = failingInsert{a.Vouchers} },
		"index write fails":   func(a *App) { a.Indexes = failingIndex{a.Indexes} },
	} {
		t.Run(name, func(t *testing.T) {
			a, ctx := newApp(), context.Background()
			ev := received("r1", "+84909123456", "AAAA-BBBB-CCCC", time.Now())
			broken := a
			breakIt(&broken)
			require.Error(t, broken.Store(ctx, ev))
			vs := firstPage(t, a, "+84909123456")
			if _, err := a.ByRequest(ctx, "r1"); err == nil {
				assert.Len(t, vs, 1, "readable but not listed: gateway would say SUCCESS before the list shows it")
			} else {
				assert.Equal(t, errs.NotFound, errs.KindOf(err))
				assert.Empty(t, vs, "listed but not readable")
			}

			require.NoError(t, a.Store(ctx, ev)) // the redelivery
			got, err := a.ByRequest(ctx, "r1")
			require.NoError(t, err)
			assert.Equal(t, "AAAA-BBBB-CCCC", got.VoucherCode)
			vs = firstPage(t, a, "+84909123456")
			require.Len(t, vs, 1)
			assert.Equal(t, "r1", vs[0].RequestID)
		})
	}
}
