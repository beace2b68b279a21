package app

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/api/vpsapi"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/kit/work"
	"github.com/bankabc/vouchers/services/voucher-int/internal/domain"
)

// addsSeen is a Pending set that notes every id ever added to it, so a test
// can tell an order that was never put in the set from one put in and
// taken out again.
type addsSeen struct {
	Pending
	mu    sync.Mutex
	added []string
}

func (s *addsSeen) Add(ctx context.Context, id string) error {
	s.mu.Lock()
	s.added = append(s.added, id)
	s.mu.Unlock()
	return s.Pending.Add(ctx, id)
}

func (s *addsSeen) everAdded(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.added, id)
}

// withDue is setup's app as main.go builds it: new orders go to the Due
// schedule (on c's time) and to a Work pool of size workers, and the
// Pending set notes its adds.
func withDue(p *fakeProvider, c *clock, mem *testkit.MemState, workers int) (App, *work.Pool, *addsSeen) {
	a := setup(p, c, "a", mem)
	due := daprx.NewSchedule(mem, "voucher-int-store", "due-orders", "a", a.RecheckEvery)
	due.Now = c.now
	a.Due = due
	pending := &addsSeen{Pending: a.Pending}
	a.Pending = pending
	pool := work.NewPool(workers, time.Minute)
	a.Work = pool
	return a, pool, pending
}

func orderOf(t *testing.T, a App, id string) domain.Order {
	t.Helper()
	o, found, err := a.Orders.Get(context.Background(), orderKey(id))
	require.NoError(t, err, "order %s", id)
	require.True(t, found, "order %s not found", id)
	return o
}

// TestHandlerReturnsBeforeTheProviderAnswers: with a Work pool the
// request-code handler stores the order, hands the provider call over and
// returns, so the broker's next delivery does not wait for the provider;
// the call, once answered, completes the order and publishes its code once.
func TestHandlerReturnsBeforeTheProviderAnswers(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	called, release := make(chan struct{}), make(chan struct{})
	p := &fakeProvider{request: func(string) (Answer, error) {
		close(called)
		<-release
		return Answer{VoucherCode: "CODE"}, nil
	}}
	a, pool, _ := withDue(p, c, mem, 1)
	returned := make(chan error, 1)
	go func() {
		returned <- a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123450", RequestedAt: c.now()})
	}()
	select {
	case err := <-returned:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the handler waited for the provider's answer")
	}
	select {
	case <-called: // the call is under way, and blocked
	case <-time.After(10 * time.Second):
		t.Fatal("the provider was never called")
	}
	assert.Equal(t, domain.StatusPending, orderOf(t, a, "r1").Status, "order before the provider answered")
	assert.Empty(t, published(t, mem), "published before the provider answered")
	close(release)
	pool.Idle()
	o := orderOf(t, a, "r1")
	assert.Equal(t, domain.StatusSuccess, o.Status, "order after the answer: %+v", o)
	assert.Equal(t, "CODE", o.VoucherCode, "order after the answer: %+v", o)
	assert.Equal(t, domain.ViaAnswer, o.Via, "order after the answer: %+v", o)
	pub := published(t, mem)
	assert.Equal(t, int32(1), p.requests.Load(), "provider calls")
	require.Len(t, pub, 1, "published")
	assert.Equal(t, events.StatusSuccess, pub[0].Status, "published %+v", pub)
	assert.Equal(t, "CODE", pub[0].VoucherCode, "published %+v", pub)
}

// TestOrderWhoseCallDiedIsReconciled: a new order goes to the Due schedule,
// not to Pending. One whose provider call got no answer (a timeout) is
// still open when it comes due: the reconciler's pass puts it in Pending
// and completes it from the provider's status. One the provider answered
// before it came due never touches Pending.
func TestOrderWhoseCallDiedIsReconciled(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	p := &fakeProvider{
		request: func(id string) (Answer, error) {
			if id == "answered" {
				return Answer{VoucherCode: "AT-ONCE"}, nil
			}
			return unavailable(id)
		},
		status: func(id string) (domain.ProviderStatus, error) {
			return domain.ProviderStatus{Found: true, Status: "SUCCESS", VoucherCode: "RECOVERED-" + id}, nil
		},
	}
	a, pool, pending := withDue(p, c, mem, 2)
	ctx := context.Background()
	for _, id := range []string{"died", "answered"} {
		require.NoError(t, a.HandleRequestCode(ctx, events.RequestCode{RequestID: id, PhoneNumber: "+84909123451", RequestedAt: c.now()}), id)
	}
	pool.Idle()
	ids, err := a.Pending.All(ctx)
	require.NoError(t, err, "Pending right after the handler")
	assert.Empty(t, ids, "Pending right after the handler, want nothing (the order is on the Due schedule)")
	assert.Equal(t, domain.StatusPending, orderOf(t, a, "died").Status, "order without an answer")
	// Not due yet: the pass neither moves it nor asks the provider.
	s, err := a.Reconcile(ctx, 4)
	require.NoError(t, err, "pass before the order was due")
	assert.Zero(t, s.Looked, "pass before the order was due: %+v", s)
	assert.Zero(t, p.statuses.Load(), "statuses asked before the order was due")
	assert.False(t, pending.everAdded("died"), "an order was put in Pending before it came due")
	c.add(a.RecheckEvery + time.Second)
	s, err = a.Reconcile(ctx, 4)
	require.NoError(t, err, "pass after RecheckEvery")
	assert.Equal(t, 1, s.Looked, "pass after RecheckEvery: %+v, want the open order looked at", s)
	assert.Equal(t, 1, s.Completed, "pass after RecheckEvery: %+v, want the open order completed", s)
	assert.True(t, pending.everAdded("died"), "the open order reached the reconciler without going through Pending")
	assert.False(t, pending.everAdded("answered"), "an order completed before it came due was put in Pending")
	ids, _ = a.Pending.All(ctx)
	assert.Empty(t, ids, "Pending after the pass, want nothing")
	o := orderOf(t, a, "died")
	assert.Equal(t, domain.StatusSuccess, o.Status, "reconciled order %+v", o)
	assert.Equal(t, "RECOVERED-died", o.VoucherCode, "reconciled order %+v", o)
	assert.Equal(t, domain.ViaReconciler, o.Via, "reconciled order %+v", o)
	pub := published(t, mem)
	codes := map[string][]string{}
	for _, ev := range pub {
		codes[ev.RequestID] = append(codes[ev.RequestID], ev.VoucherCode)
	}
	assert.Equal(t, map[string][]string{"died": {"RECOVERED-died"}, "answered": {"AT-ONCE"}}, codes,
		"published %+v, want one receive-code for each order", pub)
	assert.Equal(t, int32(1), p.statuses.Load(), "provider asked about statuses, want once (the open order only)")
	// Later passes find nothing more to do.
	c.add(a.RecheckEvery + time.Second)
	s, err = a.Reconcile(ctx, 4)
	require.NoError(t, err, "a later pass")
	assert.Zero(t, s.Looked, "a later pass: %+v", s)
	assert.Len(t, published(t, mem), 2, "receive-codes after a later pass")
}

// TestRedeliveredRequestWithDueOrdersAndPublishesOnce: the broker delivers
// the same request-code again (after the first was handled): with the Due
// schedule and the Work pool, the provider is still asked once and the
// outcome published once, and the reconciler, when the order comes due
// (tracked once per delivery), finds nothing to do.
func TestRedeliveredRequestWithDueOrdersAndPublishesOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(string) (Answer, error)
	}{
		{"answered_with_a_code", code("CODE")},
		{"acknowledged_then_called_back", ack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, mem := newClock(), testkit.NewMemState()
			p := &fakeProvider{request: tc.answer, status: func(string) (domain.ProviderStatus, error) {
				return domain.ProviderStatus{Found: true, Status: "PENDING"}, nil
			}}
			a, pool, pending := withDue(p, c, mem, 1)
			ctx := context.Background()
			ev := events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123452", RequestedAt: c.now()}
			deliver := func() {
				t.Helper()
				require.NoError(t, a.HandleRequestCode(ctx, ev))
				pool.Idle()
			}
			deliver()
			deliver() // redelivered
			assert.Equal(t, int32(1), p.requests.Load(), "provider asked for one request-code")
			if tc.name == "acknowledged_then_called_back" {
				assert.Empty(t, published(t, mem), "an acknowledgement published an outcome")
				c.add(time.Second)
				require.NoError(t, a.HandleCallback(ctx, vpsapi.Callback{RequestID: "r1", CodeVerifier: verifier, VoucherCode: "CODE", Status: "SUCCESS"}))
				deliver() // and once more, now that it is final
			}
			pub := published(t, mem)
			assert.Equal(t, int32(1), p.requests.Load(), "provider calls")
			require.Len(t, pub, 1, "published")
			assert.Equal(t, "CODE", pub[0].VoucherCode, "published %+v", pub)
			c.add(a.RecheckEvery + time.Second)
			s, err := a.Reconcile(ctx, 4)
			require.NoError(t, err, "pass after the order came due")
			assert.Zero(t, s.Looked, "pass after the order came due: %+v", s)
			assert.Zero(t, p.statuses.Load(), "statuses asked after the order came due")
			assert.False(t, pending.everAdded("r1"), "a finished order was put in Pending")
			assert.Len(t, published(t, mem), 1, "receive-codes")
		})
	}
}
