package app

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/kit/vpsapi"
	"github.com/bankabc/vouchers/kit/work"
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
	a.Due = daprx.NewSchedule(mem, "voucher-int-store", "due-orders", "a", a.RecheckEvery)
	a.Due.Now = c.now
	pending := &addsSeen{Pending: a.Pending}
	a.Pending = pending
	pool := work.NewPool(workers, time.Minute)
	a.Work = pool
	return a, pool, pending
}

func orderOf(t *testing.T, a App, id string) Order {
	t.Helper()
	o, _, found, err := a.Orders.Get(context.Background(), orderKey(id))
	if err != nil || !found {
		t.Fatalf("order %s: found %v, %v", id, found, err)
	}
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
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the handler waited for the provider's answer")
	}
	select {
	case <-called: // the call is under way, and blocked
	case <-time.After(10 * time.Second):
		t.Fatal("the provider was never called")
	}
	if o := orderOf(t, a, "r1"); o.Status != StatusPending {
		t.Fatalf("order %s before the provider answered", o.Status)
	}
	if pub := published(t, mem); len(pub) != 0 {
		t.Fatalf("published %+v before the provider answered", pub)
	}
	close(release)
	pool.Idle()
	if o := orderOf(t, a, "r1"); o.Status != events.StatusSuccess || o.VoucherCode != "CODE" || o.Via != "answer" {
		t.Fatalf("order after the answer: %+v", o)
	}
	pub := published(t, mem)
	if p.requests.Load() != 1 || len(pub) != 1 || pub[0].Status != events.StatusSuccess || pub[0].VoucherCode != "CODE" {
		t.Fatalf("provider calls %d, published %+v", p.requests.Load(), pub)
	}
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
		status: func(id string) (ProviderStatus, error) {
			return ProviderStatus{Found: true, Status: "SUCCESS", VoucherCode: "RECOVERED-" + id}, nil
		},
	}
	a, pool, pending := withDue(p, c, mem, 2)
	ctx := context.Background()
	for _, id := range []string{"died", "answered"} {
		if err := a.HandleRequestCode(ctx, events.RequestCode{RequestID: id, PhoneNumber: "+84909123451", RequestedAt: c.now()}); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	pool.Idle()
	if ids, err := a.Pending.All(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("Pending right after the handler: %v %v, want nothing (the order is on the Due schedule)", ids, err)
	}
	if o := orderOf(t, a, "died"); o.Status != StatusPending {
		t.Fatalf("order without an answer is %s", o.Status)
	}
	// Not due yet: the pass neither moves it nor asks the provider.
	if s, err := a.Reconcile(ctx, 4); err != nil || s.Looked != 0 || p.statuses.Load() != 0 {
		t.Fatalf("pass before the order was due: %+v %v, statuses %d", s, err, p.statuses.Load())
	}
	if pending.everAdded("died") {
		t.Fatal("an order was put in Pending before it came due")
	}
	c.add(a.RecheckEvery + time.Second)
	s, err := a.Reconcile(ctx, 4)
	if err != nil || s.Looked != 1 || s.Completed != 1 {
		t.Fatalf("pass after RecheckEvery: %+v %v, want the open order looked at and completed", s, err)
	}
	if !pending.everAdded("died") {
		t.Fatal("the open order reached the reconciler without going through Pending")
	}
	if pending.everAdded("answered") {
		t.Fatal("an order completed before it came due was put in Pending")
	}
	if ids, _ := a.Pending.All(ctx); len(ids) != 0 {
		t.Fatalf("Pending after the pass: %v, want nothing", ids)
	}
	if o := orderOf(t, a, "died"); o.Status != events.StatusSuccess || o.VoucherCode != "RECOVERED-died" || o.Via != "reconciler" {
		t.Fatalf("reconciled order %+v", o)
	}
	byID := map[string][]events.ReceiveCode{}
	for _, ev := range published(t, mem) {
		byID[ev.RequestID] = append(byID[ev.RequestID], ev)
	}
	if len(byID["died"]) != 1 || byID["died"][0].VoucherCode != "RECOVERED-died" ||
		len(byID["answered"]) != 1 || byID["answered"][0].VoucherCode != "AT-ONCE" || len(byID) != 2 {
		t.Fatalf("published %+v, want one receive-code for each order", byID)
	}
	if p.statuses.Load() != 1 {
		t.Fatalf("provider asked %d times about statuses, want once (the open order only)", p.statuses.Load())
	}
	// Later passes find nothing more to do.
	c.add(a.RecheckEvery + time.Second)
	if s, err := a.Reconcile(ctx, 4); err != nil || s.Looked != 0 {
		t.Fatalf("a later pass: %+v %v", s, err)
	}
	if n := len(published(t, mem)); n != 2 {
		t.Fatalf("published %d receive-codes after a later pass, want 2", n)
	}
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
			p := &fakeProvider{request: tc.answer, status: func(string) (ProviderStatus, error) {
				return ProviderStatus{Found: true, Status: "PENDING"}, nil
			}}
			a, pool, pending := withDue(p, c, mem, 1)
			ctx := context.Background()
			ev := events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123452", RequestedAt: c.now()}
			deliver := func() {
				t.Helper()
				if err := a.HandleRequestCode(ctx, ev); err != nil {
					t.Fatal(err)
				}
				pool.Idle()
			}
			deliver()
			deliver() // redelivered
			if p.requests.Load() != 1 {
				t.Fatalf("provider asked %d times for one request-code", p.requests.Load())
			}
			if tc.name == "acknowledged_then_called_back" {
				if len(published(t, mem)) != 0 {
					t.Fatal("an acknowledgement published an outcome")
				}
				c.add(time.Second)
				if err := a.HandleCallback(ctx, vpsapi.Callback{RequestID: "r1", CodeVerifier: verifier, VoucherCode: "CODE", Status: "SUCCESS"}); err != nil {
					t.Fatal(err)
				}
				deliver() // and once more, now that it is final
			}
			pub := published(t, mem)
			if p.requests.Load() != 1 || len(pub) != 1 || pub[0].VoucherCode != "CODE" {
				t.Fatalf("provider calls %d, published %+v", p.requests.Load(), pub)
			}
			c.add(a.RecheckEvery + time.Second)
			if s, err := a.Reconcile(ctx, 4); err != nil || s.Looked != 0 || p.statuses.Load() != 0 {
				t.Fatalf("pass after the order came due: %+v %v, statuses %d", s, err, p.statuses.Load())
			}
			if pending.everAdded("r1") {
				t.Fatal("a finished order was put in Pending")
			}
			if n := len(published(t, mem)); n != 1 {
				t.Fatalf("published %d receive-codes, want 1", n)
			}
		})
	}
}
