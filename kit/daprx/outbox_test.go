package daprx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/testkit"
)

// testClock is a clock the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func testOutbox(mem *testkit.MemState, store string) *Outbox {
	return NewOutbox(mem, store, "pubsub", "replica-a", 5*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func clockedOutbox(mem *testkit.MemState, holder string, clk *testClock) *Outbox {
	ob := testOutbox(mem, "s")
	ob.Intents.Holder = holder
	ob.Intents.Now = clk.Now
	return ob
}

func smsEvent(id string) *Event {
	return &Event{Topic: events.TopicSendSMS, Type: events.TypeSendSMS,
		Data: events.SendSMS{MessageID: id, PhoneNumber: "+84909123456", Text: "hi"}}
}

func TestOutboxRelayPublishesWhatACrashLeftUnpublished(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	mem := testkit.NewMemState()
	ob := clockedOutbox(mem, "replica-a", clk)
	s := Store[order]{Client: mem, Name: "s", Outbox: ob}

	// The broker is away right after the commit: the write still succeeds.
	mem.PublishErr = errors.New("broker down")
	require.NoError(t, s.Insert(ctx, "k", order{1}, smsEvent("m1")))
	mem.PublishErr = nil
	require.Empty(t, mem.Events(events.TopicSendSMS))

	sum, err := ob.Relay(ctx)
	require.NoError(t, err)
	assert.Zero(t, sum.Published, "the relay waits After before it looks")

	clk.Add(6 * time.Second)
	sum, err = ob.Relay(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Published)
	got := mem.Events(events.TopicSendSMS)
	require.Len(t, got, 1)
	assert.JSONEq(t, `{"messageId":"m1","phoneNumber":"+84909123456","text":"hi"}`, string(got[0].Data))
	ob.Settle()

	clk.Add(time.Minute)
	sum, err = ob.Relay(ctx)
	require.NoError(t, err)
	assert.Zero(t, sum.Published, "a relayed record is removed")
	assert.Len(t, mem.Events(events.TopicSendSMS), 1)
}

func TestOutboxRelayKeepsItsPlaceWhileTheBrokerIsDown(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	mem := testkit.NewMemState()
	ob := clockedOutbox(mem, "replica-a", clk)
	s := Store[order]{Client: mem, Name: "s", Outbox: ob}
	mem.PublishErr = errors.New("broker down")
	require.NoError(t, s.Insert(ctx, "k", order{1}, smsEvent("m1")))

	clk.Add(10 * time.Second)
	_, err := ob.Relay(ctx)
	require.Error(t, err, "a failed publish is reported")

	mem.PublishErr = nil
	clk.Add(10 * time.Second)
	sum, err := ob.Relay(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Published, "the failed id was scheduled again and is published")
}

func TestOutboxPublishesEachEventOnceWhenNothingFails(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	mem := testkit.NewMemState()
	ob := clockedOutbox(mem, "replica-a", clk)
	s := Store[order]{Client: mem, Name: "s", Outbox: ob}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			assert.NoError(t, s.Insert(ctx, fmt.Sprint("k", i), order{i}, smsEvent(fmt.Sprint("m", i))))
		})
	}
	wg.Wait()
	ob.Settle()
	assert.Len(t, mem.Events(events.TopicSendSMS), 50)

	clk.Add(time.Minute)
	sum, err := ob.Relay(ctx)
	require.NoError(t, err)
	assert.Equal(t, 50, sum.IDs, "every write was scheduled")
	assert.Zero(t, sum.Published, "and none needed the relay")
	assert.Len(t, mem.Events(events.TopicSendSMS), 50)
}

func TestOutboxUpdateThatLosesARaceStillPublishesOnce(t *testing.T) {
	ctx := context.Background()
	mem := testkit.NewMemState()
	ob := testOutbox(mem, "s")
	s := Store[order]{Client: mem, Name: "s", Outbox: ob}
	require.NoError(t, s.Insert(ctx, "k", order{0}, nil))
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			_, err := s.Update(ctx, "k", func(o *order, _ bool) (*Event, error) {
				o.N++
				return smsEvent(fmt.Sprint("m", i)), nil
			})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	v, _, err := s.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, 10, v.N)
	assert.Len(t, mem.Events(events.TopicSendSMS), 10, "one event per committed update, none for a lost attempt")
}

func TestOutboxRelayDropsTheIntentOfATransactionThatNeverCommitted(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	mem := testkit.NewMemState()
	ob := clockedOutbox(mem, "replica-a", clk)
	s := Store[order]{Client: mem, Name: "s", Outbox: ob}
	require.NoError(t, s.Insert(ctx, "k", order{1}, nil))
	// The insert loses (the key is taken): the intent is stored, the record not.
	require.ErrorIs(t, s.Insert(ctx, "k", order{2}, smsEvent("m1")), ErrExists)
	clk.Add(time.Minute)
	sum, err := ob.Relay(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.IDs)
	assert.Zero(t, sum.Published)
	assert.Empty(t, mem.Events(events.TopicSendSMS))
}

type confirmer struct {
	mu   sync.Mutex
	done map[string]bool
	asks int
}

func (c *confirmer) Confirmed(_ context.Context, rec OutboxRecord) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asks++
	return c.done[rec.ID], nil
}

func TestOutboxRepublishesAnEventItsConsumerDidNotConfirm(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	mem := testkit.NewMemState()
	ob := clockedOutbox(mem, "replica-a", clk)
	c := &confirmer{done: map[string]bool{}}
	ob.Confirm = map[string]Confirmation{events.TopicSendSMS: {After: 30 * time.Second, Confirmer: c}}
	s := Store[order]{Client: mem, Name: "s", Outbox: ob}
	require.NoError(t, s.Insert(ctx, "k", order{1}, smsEvent("m1")))
	require.Len(t, mem.Events(events.TopicSendSMS), 1)
	id := mem.Events(events.TopicSendSMS)[0].Meta["cloudevent.id"]
	ob.Settle()
	require.True(t, mem.Has("outbox|"+id), "kept until confirmed")

	clk.Add(10 * time.Second)
	sum, err := ob.Relay(ctx)
	require.NoError(t, err)
	assert.Zero(t, c.asks, "not asked before Confirm.After")

	// The broker lost it: not confirmed, so published again, same id.
	clk.Add(25 * time.Second)
	sum, err = ob.Relay(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Published)
	got := mem.Events(events.TopicSendSMS)
	require.Len(t, got, 2)
	assert.Equal(t, id, got[1].Meta["cloudevent.id"])

	// Sent this time: confirmed, removed, never published again.
	c.mu.Lock()
	c.done[id] = true
	c.mu.Unlock()
	clk.Add(31 * time.Second)
	sum, err = ob.Relay(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Confirmed)
	assert.Zero(t, sum.Published)
	ob.Settle()
	assert.False(t, mem.Has("outbox|"+id))
	clk.Add(time.Minute)
	_, err = ob.Relay(ctx)
	require.NoError(t, err)
	assert.Len(t, mem.Events(events.TopicSendSMS), 2)
}

func TestOneRelayAtATimeAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	mem := testkit.NewMemState()
	a, b := clockedOutbox(mem, "replica-a", clk), clockedOutbox(mem, "replica-b", clk)
	mem.PublishErr = errors.New("broker down")
	require.NoError(t, Store[order]{Client: mem, Name: "s", Outbox: a}.Insert(ctx, "k", order{1}, smsEvent("m1")))
	mem.PublishErr = nil
	clk.Add(10 * time.Second)

	// a's pass is under way (it holds the lease) when b's tick comes.
	var bSum OutboxSummary
	_, err := a.Intents.Sweep(ctx, func(ctx context.Context, _ string) error {
		var err error
		bSum, err = b.Relay(ctx)
		return err
	})
	require.NoError(t, err)
	assert.True(t, bSum.Held, "b must not sweep while a holds the schedule")
	assert.Zero(t, bSum.Published)

	// A holder that died: its lease runs out, and b takes over.
	require.NoError(t, mem.PublishErr)
	_, err = a.Intents.Cursors.Update(ctx, a.Intents.cursorKey(), func(c *SweepCursor, _ bool) (*Event, error) {
		c.Second -= 20 // a's pass never finished
		c.Holder, c.Until = "replica-a", clk.Now().Add(a.Intents.Lease)
		return nil, nil
	})
	require.NoError(t, err)
	sum, err := b.Relay(ctx)
	require.NoError(t, err)
	assert.True(t, sum.Held)
	clk.Add(a.Intents.Lease + time.Second)
	sum, err = b.Relay(ctx)
	require.NoError(t, err)
	assert.False(t, sum.Held)
	assert.Equal(t, 1, sum.Published)
}

func TestUnconfirmedEventsAreSentAgainLessAndLessOften(t *testing.T) {
	assert.Equal(t, 30*time.Second, resendDelay(30*time.Second, 1))
	assert.Equal(t, time.Minute, resendDelay(30*time.Second, 2))
	assert.Equal(t, 4*time.Minute, resendDelay(30*time.Second, 4))
	assert.Equal(t, maxResendDelay, resendDelay(30*time.Second, 10))
	assert.Equal(t, maxResendDelay, resendDelay(30*time.Second, 1000))

	ctx := context.Background()
	clk := &testClock{now: time.Unix(1_700_000_000, 0)}
	mem := testkit.NewMemState()
	ob := clockedOutbox(mem, "replica-a", clk)
	ob.Confirm = map[string]Confirmation{events.TopicSendSMS: {After: 30 * time.Second, Confirmer: &confirmer{done: map[string]bool{}}}}
	require.NoError(t, Store[order]{Client: mem, Name: "s", Outbox: ob}.Insert(ctx, "k", order{1}, smsEvent("m1")))
	// Unconfirmed for ten minutes: re-sent at 30 s, 1, 2, 4 and 8 min, not every 30 s.
	for range 600 {
		clk.Add(time.Second)
		_, err := ob.Relay(ctx)
		require.NoError(t, err)
	}
	assert.Len(t, mem.Events(events.TopicSendSMS), 1+5)
}

func TestInsertAfterWritesOnlyOnceBeforeSucceeded(t *testing.T) {
	ctx := context.Background()
	mem := testkit.NewMemState()
	ob := testOutbox(mem, "s")
	s := Store[order]{Client: mem, Name: "s", Outbox: ob}

	refused := errors.New("tracking failed")
	err := s.InsertAfter(ctx, "k1", order{1}, smsEvent("m1"), func(context.Context) error { return refused })
	require.ErrorIs(t, err, refused)
	_, found, err := s.Get(ctx, "k1")
	require.NoError(t, err)
	assert.False(t, found, "the value was written although before failed")
	assert.Empty(t, mem.Events(events.TopicSendSMS), "the event was published although before failed")

	ran := false
	require.NoError(t, s.InsertAfter(ctx, "k2", order{2}, smsEvent("m2"), func(context.Context) error { ran = true; return nil }))
	assert.True(t, ran, "before did not run")
	got, found, err := s.Get(ctx, "k2")
	require.NoError(t, err)
	assert.True(t, found, "the value was not written")
	assert.Equal(t, order{2}, got)
	assert.Len(t, mem.Events(events.TopicSendSMS), 1)
}
