package ports

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/testkit"
	purchase "github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
	purchasedomain "github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// sentEvents records events published outside the outbox.
type sentEvents struct {
	mu   sync.Mutex
	sent []events.RequestCode
}

func (s *sentEvents) Publish(_ context.Context, topic, ceType string, data any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if topic == events.TopicRequestCode && ceType == events.TypeRequestCode {
		s.sent = append(s.sent, data.(events.RequestCode))
	}
	return nil
}

func (s *sentEvents) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.sent {
		out = append(out, e.RequestID)
	}
	return out
}

// newRedrive is a Redrive on in-memory state, with its requests store, its
// clock and what it publishes.
func newRedrive(after time.Duration, shards int) (purchase.Redrive, daprx.Store[purchasedomain.Request], *clock, *sentEvents) {
	mem := testkit.NewMemState()
	c := &clock{t: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	sent := &sentEvents{}
	requests := daprx.Store[purchasedomain.Request]{Client: mem, Name: "gateway-store"}
	sched := daprx.NewSchedule(mem, "gateway-store", "redrive", "gateway-a", after)
	sched.Shards, sched.Now = shards, c.now
	r := purchase.Redrive{Schedule: sched, Requests: requests, Events: sent, After: after}
	return r, requests, c, sent
}

// TestRedriveResendsOnlyWhatIsStillProcessing, including tracked ids never
// stored.
func TestRedriveResendsOnlyWhatIsStillProcessing(t *testing.T) {
	r, requests, c, sent := newRedrive(30*time.Second, 4)
	ctx := context.Background()
	_, err := r.Sweep(ctx) // the first sweep starts the cursor
	require.NoError(t, err)
	for _, id := range []string{"open", "done", "never-stored"} {
		require.NoError(t, r.Track(ctx, id))
	}
	_ = requests.Insert(ctx, "request|open", purchasedomain.Request{RequestID: "open", UserID: "u", PhoneNumber: "+84909123450", State: purchasedomain.StateProcessing, CreatedAt: c.now()}, nil)
	_ = requests.Insert(ctx, "request|done", purchasedomain.Request{RequestID: "done", State: purchasedomain.StateSuccess}, nil)

	c.add(29 * time.Second)
	s, err := r.Sweep(ctx)
	require.NoError(t, err, "sweep before it was due")
	assert.Empty(t, sent.ids(), "resent before it was due: %+v", s)
	c.add(2 * time.Second)
	s, err = r.Sweep(ctx)
	require.NoError(t, err, "sweep")
	assert.Equal(t, 3, s.Checked, "sweep %+v", s)
	require.Equal(t, []string{"open"}, sent.ids(), "resent")
	assert.Equal(t, "+84909123450", sent.sent[0].PhoneNumber, "resent request-code")
	s, _ = r.Sweep(ctx) // the same seconds are not swept twice
	assert.Zero(t, s.Resent, "swept again: %+v", s)
	c.add(31 * time.Second) // still processing: once more
	s, err = r.Sweep(ctx)
	require.NoError(t, err, "second redrive")
	assert.Equal(t, 1, s.Resent, "second redrive %+v", s)
	_, _ = requests.Update(ctx, "request|open", func(q *purchasedomain.Request, _ bool) (*daprx.Event, error) {
		q.State = purchasedomain.StateSuccess
		return nil, nil
	})
	c.add(31 * time.Second) // finished: no more
	s, err = r.Sweep(ctx)
	require.NoError(t, err, "after completion")
	assert.Zero(t, s.Resent, "after completion %+v", s)
	assert.Equal(t, 1, s.Checked, "after completion %+v", s)
}

// TestRedriveCatchesUpAfterAnAbsence: seconds that came due while no sweep
// ran are swept later, not skipped.
func TestRedriveCatchesUpAfterAnAbsence(t *testing.T) {
	r, requests, c, sent := newRedrive(10*time.Second, 2)
	ctx := context.Background()
	_, _ = r.Sweep(ctx)
	_ = r.Track(ctx, "a")
	_ = requests.Insert(ctx, "request|a", purchasedomain.Request{RequestID: "a", State: purchasedomain.StateProcessing}, nil)
	c.add(10 * time.Minute) // gateway away
	for range 10 {
		_, err := r.Sweep(ctx)
		require.NoError(t, err)
	}
	got := sent.ids()
	require.NotEmpty(t, got, "resent")
	assert.Equal(t, "a", got[0], "resent %v", got)
}

// TestBatchedTrackStoresEveryIDBeforeItReturns: concurrent purchases share
// bucket writes, and each Track returns only once its id is stored.
func TestBatchedTrackStoresEveryIDBeforeItReturns(t *testing.T) {
	mem := testkit.NewMemState()
	c := &clock{t: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	sched := daprx.NewSchedule(mem, "gateway-store", "redrive", "gateway-a", 30*time.Second)
	sched.Shards, sched.Now = 4, c.now
	buckets := sched.Buckets
	b := purchase.Redrive{Schedule: sched, After: 30 * time.Second}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "r" + string(rune('A'+i%26)) + string(rune('a'+i/26))
			if !assert.NoError(t, b.Track(context.Background(), id)) {
				return
			}
			found := false
			for shard := range 4 {
				got, _, _ := buckets.Get(context.Background(), "redrive|"+strconv.FormatInt(c.now().Add(30*time.Second).Unix(), 10)+"|"+strconv.Itoa(shard))
				found = found || slices.Contains(got.IDs, id)
			}
			assert.True(t, found, "%s not stored when Track returned", id)
		}()
	}
	wg.Wait()
}
