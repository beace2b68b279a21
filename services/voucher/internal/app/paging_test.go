package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/voucher/internal/domain"
)

const phone = "+84909123456"

// storeN stores n vouchers of phone, r0000 to r(n-1), one second apart.
func storeN(t *testing.T, a App, from, n int) []string {
	t.Helper()
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	var ids []string
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("r%04d", i)
		require.NoError(t, a.Store(context.Background(), received(id, phone, "C-"+id, t0.Add(time.Duration(i)*time.Second))))
		ids = append(ids, id)
	}
	return ids
}

// listAll pages through phone's vouchers limit at a time and returns their
// requestIds in the order listed, and how many answers it took.
func listAll(t *testing.T, a App, limit int) ([]string, int) {
	t.Helper()
	var ids []string
	q := ListQuery{Limit: limit}
	for answers := 1; ; answers++ {
		p, err := a.ByPhone(context.Background(), phone, q)
		require.NoError(t, err)
		require.LessOrEqual(t, len(p.Vouchers), max(limit, 1), "answer %d", answers)
		for _, v := range p.Vouchers {
			ids = append(ids, v.RequestID)
		}
		if p.Next == "" {
			return ids, answers
		}
		require.Less(t, answers, 10000, "the cursor never ends")
		q.Cursor = p.Next
	}
}

func newestFirst(ids []string) []string {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return out
}

func TestPagingListsEveryVoucherOnceNewestFirst(t *testing.T) {
	a := newApp()
	stored := storeN(t, a, 0, 2*domain.PageSize+30)
	for _, limit := range []int{1, 7, domain.DefaultLimit, domain.MaxLimit} {
		t.Run(fmt.Sprint("limit_", limit), func(t *testing.T) {
			got, answers := listAll(t, a, limit)
			assert.Equal(t, newestFirst(stored), got)
			assert.Equal(t, (len(stored)+limit-1)/limit, answers, "answers, the last one with no cursor")
		})
	}
	p, err := a.ByPhone(context.Background(), phone, ListQuery{})
	require.NoError(t, err)
	assert.Len(t, p.Vouchers, domain.DefaultLimit, "without a limit")
}

func TestVouchersStoredWhilePagingNeitherRepeatNorHideOlderOnes(t *testing.T) {
	a := newApp()
	older := storeN(t, a, 0, 150)
	p, err := a.ByPhone(context.Background(), phone, ListQuery{Limit: 60})
	require.NoError(t, err)
	var seen []string
	for _, v := range p.Vouchers {
		seen = append(seen, v.RequestID)
	}
	storeN(t, a, 150, 120) // a new page and more, while the customer reads
	q := ListQuery{Limit: 60, Cursor: p.Next}
	for q.Cursor != "" {
		p, err = a.ByPhone(context.Background(), phone, q)
		require.NoError(t, err)
		for _, v := range p.Vouchers {
			seen = append(seen, v.RequestID)
		}
		q.Cursor = p.Next
	}
	assert.Equal(t, newestFirst(older), seen)
}

func TestConcurrentStoresOfOneNumberLoseNothing(t *testing.T) {
	a := newApp()
	const workers, each = 8, 40 // across three page boundaries
	var wg sync.WaitGroup
	errc := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%02d", w, i)
				errc <- a.Store(context.Background(), received(id, phone, "C-"+id, time.Now()))
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		require.NoError(t, err)
	}
	got, _ := listAll(t, a, domain.MaxLimit)
	assert.Len(t, got, workers*each)
	assert.Len(t, slices.Compact(slices.Sorted(slices.Values(got))), workers*each, "an id listed twice")
	head, _, err := a.Heads.Get(context.Background(), headKey(phone))
	require.NoError(t, err)
	assert.Equal(t, workers*each/domain.PageSize, head.Last, "pages before the last are full")
}

// A store that failed after indexing its id is redelivered later; by then
// the id's page may have filled.
func TestRedeliveryAfterThePageFilledIndexesOnce(t *testing.T) {
	a := newApp()
	storeN(t, a, 0, domain.PageSize-1)
	broken := a
	broken.Vouchers = failingInsert{a.Vouchers}
	require.Error(t, broken.Store(context.Background(), received("late", phone, "C-late", time.Now())))
	storeN(t, a, domain.PageSize, 30) // the next page begins
	require.NoError(t, a.Store(context.Background(), received("late", phone, "C-late", time.Now())))
	got, _ := listAll(t, a, domain.MaxLimit)
	assert.Len(t, got, domain.PageSize+30)
	assert.Equal(t, 1, count(got, "late"), "listed %d times", count(got, "late"))
}

func count(ids []string, id string) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

// A bank that upgrades keeps its customers' vouchers: the index as it was
// kept before pages (one record per number) is listed after the new pages.
func TestTheIndexKeptBeforePagesIsStillListed(t *testing.T) {
	mem := testkit.NewMemState()
	a := newAppOn(mem)
	var old []string
	for i := range 230 {
		id := fmt.Sprintf("old%03d", i)
		old = append(old, id)
		b, _ := json.Marshal(map[string]string{"requestId": id, "phoneNumber": phone, "voucherCode": "C-" + id, "status": "SUCCESS"})
		require.NoError(t, mem.SaveBulkState(context.Background(), "voucher-store", &dapr.SetStateItem{Key: "voucher|" + id, Value: b}))
	}
	b, _ := json.Marshal(map[string][]string{"requestIds": old})
	require.NoError(t, mem.SaveBulkState(context.Background(), "voucher-store", &dapr.SetStateItem{Key: "phone|" + phone, Value: b}))

	t.Run("alone", func(t *testing.T) {
		got, _ := listAll(t, a, 40)
		assert.Equal(t, newestFirst(old), got)
	})
	// A redelivery of an old voucher changes nothing.
	require.NoError(t, a.Store(context.Background(), received("old005", phone, "C-other", time.Now())))
	stored := storeN(t, a, 0, domain.PageSize+10)
	t.Run("after_the_new_ones", func(t *testing.T) {
		for _, limit := range []int{1, 40, domain.MaxLimit} {
			got, _ := listAll(t, a, limit)
			assert.Equal(t, append(newestFirst(stored), newestFirst(old)...), got, "limit %d", limit)
		}
	})
}

func TestBadLimitOrCursorIsInvalid(t *testing.T) {
	a := newApp()
	storeN(t, a, 0, 3)
	for _, q := range []ListQuery{{Limit: -1}, {Limit: domain.MaxLimit + 1}, {Cursor: "not-a-cursor"}, {Cursor: domain.Cursor{Page: 0, End: 0}.String()}} {
		_, err := a.ByPhone(context.Background(), phone, q)
		assert.Equal(t, errs.Invalid, errs.KindOf(err), "%+v: %v", q, err)
	}
	_, err := a.ByPhone(context.Background(), "", ListQuery{})
	assert.Equal(t, errs.Invalid, errs.KindOf(err))
}
