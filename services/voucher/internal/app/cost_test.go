package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/voucher/internal/app"
	"github.com/bankabc/vouchers/services/voucher/internal/wiring"
)

// countingState is a MemState that counts the bytes written to it and
// read from it.
type countingState struct {
	*testkit.MemState
	written, read atomic.Int64
}

func (c *countingState) GetState(ctx context.Context, store, key string, meta map[string]string) (*dapr.StateItem, error) {
	it, err := c.MemState.GetState(ctx, store, key, meta)
	if it != nil {
		c.read.Add(int64(len(it.Value)))
	}
	return it, err
}

func (c *countingState) GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, n int32) ([]*dapr.BulkStateItem, error) {
	items, err := c.MemState.GetBulkState(ctx, store, keys, meta, n)
	for _, it := range items {
		c.read.Add(int64(len(it.Value)))
	}
	return items, err
}

func (c *countingState) SaveBulkState(ctx context.Context, store string, items ...*dapr.SetStateItem) error {
	for _, it := range items {
		c.written.Add(int64(len(it.Value)))
	}
	return c.MemState.SaveBulkState(ctx, store, items...)
}

func (c *countingState) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	for _, op := range ops {
		if op.Item != nil {
			c.written.Add(int64(len(op.Item.Value)))
		}
	}
	return c.MemState.ExecuteStateTransaction(ctx, store, meta, ops)
}

// TestStoringAVoucherWritesABoundedAmount: the thousandth voucher of a
// number costs what the tenth did, not its whole history (issue 28,
// finding 4: one record per number held every requestId and was
// rewritten on every purchase).
func TestStoringAVoucherWritesABoundedAmount(t *testing.T) {
	mem, a := newCounted(t)
	written := map[int]int64{}
	var most int64
	for i := 1; i <= 1000; i++ {
		before := mem.written.Load()
		require.NoError(t, a.Store(context.Background(), nth(i)))
		written[i] = mem.written.Load() - before
		most = max(most, written[i])
	}
	t.Logf("bytes written to store a voucher: the 10th %d, the 100th %d, the 101st %d, the 1000th %d, at most %d",
		written[10], written[100], written[101], written[1000], most)
	// One full page of 100 ids (about 3.6 KB) and the voucher: never the
	// 1,000 ids (36 KB) of the number's history.
	assert.LessOrEqual(t, most, int64(4500), "the most bytes one store wrote")
}

// TestListingReadsABoundedAmount: the newest page of a number costs the
// same reads with 100 vouchers as with 1000.
func TestListingReadsABoundedAmount(t *testing.T) {
	mem, a := newCounted(t)
	read := map[int]int64{}
	for i := 1; i <= 1000; i++ {
		require.NoError(t, a.Store(context.Background(), nth(i)))
		if i == 100 || i == 1000 {
			before := mem.read.Load()
			p, err := a.ByPhone(context.Background(), "+84909123456", app.ListQuery{})
			require.NoError(t, err)
			require.Len(t, p.Vouchers, 50)
			read[i] = mem.read.Load() - before
		}
	}
	t.Logf("bytes read to list the newest 50 vouchers: of 100, %d; of 1000, %d", read[100], read[1000])
	assert.LessOrEqual(t, read[1000], read[100]+100, "the newest page of 1000 vouchers")
}

func newCounted(t *testing.T) (*countingState, app.App) {
	t.Helper()
	cfg, err := wiring.LoadConfig(testkit.Env(map[string]string{"APP_API_TOKEN": "the-app-token-of-the-cost-test"}))
	require.NoError(t, err)
	mem := &countingState{MemState: testkit.NewMemState()}
	return mem, wiring.Build(mem, cfg, slog.New(slog.DiscardHandler))
}

// nth is the receive-code of a number's i-th voucher, its requestId as
// gateway makes them (32 hex digits).
func nth(i int) events.ReceiveCode {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	return events.ReceiveCode{RequestID: fmt.Sprintf("%032x", i), PhoneNumber: "+84909123456", Status: events.StatusSuccess,
		VoucherCode: "AAAA-BBBB-CCCC", RequestedAt: t0, IssuedAt: t0.Add(time.Duration(i) * time.Second)}
}
