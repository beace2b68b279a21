package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api"
	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/api/vpsapi"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/kit/pkce"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/voucher-int/internal/domain"
)

// fakeProvider answers with function fields and counts calls.
type fakeProvider struct {
	requests, statuses atomic.Int32
	request            func(requestID string) (Answer, error)
	status             func(requestID string) (domain.ProviderStatus, error)
}

func (f *fakeProvider) Request(_ context.Context, requestID, _ string) (Answer, error) {
	f.requests.Add(1)
	return f.request(requestID)
}

func (f *fakeProvider) Status(_ context.Context, requestID string) (domain.ProviderStatus, error) {
	f.statuses.Add(1)
	return f.status(requestID)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func setup(p *fakeProvider, c *clock, instance string, mem *testkit.MemState) App {
	return App{
		Orders: daprx.Store[domain.Order]{Client: mem, Name: "voucher-int-store",
			Outbox: daprx.NewOutbox(mem, "voucher-int-store", "pubsub", instance, 5*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))},
		Pending:      daprx.Index{Store: daprx.Store[daprx.IndexShard]{Client: mem, Name: "voucher-int-store"}, Name: "pending", Shards: 4},
		Provider:     p,
		Now:          c.now,
		LateAfter:    30 * time.Second,
		Deadline:     2 * time.Minute,
		RecheckEvery: 2 * time.Second,
		Lease:        7 * time.Second,
		Instance:     instance,
	}
}

// published lists the receive-code events published through the outbox.
func published(t *testing.T, mem *testkit.MemState) []events.ReceiveCode {
	t.Helper()
	var out []events.ReceiveCode
	for _, p := range mem.Events(events.TopicReceiveCode) {
		var ev events.ReceiveCode
		require.NoError(t, json.Unmarshal(p.Data, &ev))
		out = append(out, ev)
	}
	return out
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)} }

func code(c string) func(string) (Answer, error) {
	return func(string) (Answer, error) { return Answer{VoucherCode: c}, nil }
}

func unavailable(string) (Answer, error) {
	return Answer{}, errs.E(errs.Unavailable, "context deadline exceeded")
}

const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

func ack(string) (Answer, error) {
	return Answer{CodeChallenge: pkce.Challenge(verifier), TransformMethod: pkce.MethodS256}, nil
}

func TestImmediateCodeIsPublishedOnce(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	p := &fakeProvider{request: code("CODE")}
	a := setup(p, c, "a", mem)
	ev := events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123450", RequestedAt: c.now()}
	for range 3 { // the same event, redelivered
		require.NoError(t, a.HandleRequestCode(context.Background(), ev))
	}
	pub := published(t, mem)
	assert.Equal(t, int32(1), p.requests.Load(), "provider calls")
	ids, _ := a.Pending.All(context.Background())
	assert.Empty(t, ids, "completed order still pending")
	require.Len(t, pub, 1, "published")
	assert.Equal(t, events.StatusSuccess, pub[0].Status, "published %+v", pub)
	assert.Equal(t, "CODE", pub[0].VoucherCode, "published %+v", pub)
}

// outcomes records what is published outside the outbox.
type outcomes struct {
	mu   sync.Mutex
	sent []events.ReceiveCode
}

func (o *outcomes) Publish(_ context.Context, topic, ceType string, data any) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if topic != events.TopicReceiveCode || ceType != events.TypeReceiveCode {
		return errs.E(errs.Invalid, "published %s/%s", topic, ceType)
	}
	b, _ := json.Marshal(data)
	if err := api.CheckEvent(topic, b); err != nil {
		return errs.Wrap(errs.Invalid, err, "published an event its schema refuses")
	}
	o.sent = append(o.sent, data.(events.ReceiveCode))
	return nil
}

// TestRequestAgainForAFinishedOrderSendsItsOutcomeAgain: gateway re-sends
// request-code for a request still processing; if the order is done, its
// outcome (which gateway may never have received) goes out again, the same
// as the first, and the provider is not called.
func TestRequestAgainForAFinishedOrderSendsItsOutcomeAgain(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	p := &fakeProvider{request: code("CODE")}
	a := setup(p, c, "a", mem)
	out := &outcomes{}
	a.Outcomes = out
	ev := events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123450", RequestedAt: c.now()}
	require.NoError(t, a.HandleRequestCode(context.Background(), ev))
	c.add(time.Minute)
	require.NoError(t, a.HandleRequestCode(context.Background(), ev))
	first := published(t, mem)
	assert.Equal(t, int32(1), p.requests.Load(), "provider calls")
	require.Len(t, first, 1, "outbox")
	require.Len(t, out.sent, 1, "sent again")
	assert.Equal(t, first[0], out.sent[0], "the outcome sent again is not the first")
}

func TestLateCallback(t *testing.T) {
	type step struct {
		name      string
		cb        vpsapi.Callback
		wantKind  errs.Kind // 0: accepted
		published int
	}
	good := vpsapi.Callback{RequestID: "r1", CodeVerifier: verifier, VoucherCode: "LATE", Status: "SUCCESS"}
	steps := []step{
		{"wrong_verifier_is_401", vpsapi.Callback{RequestID: "r1", CodeVerifier: "wrong-verifier", VoucherCode: "EVIL", Status: "SUCCESS"}, errs.Unauthorized, 0},
		{"unknown_request_is_401", vpsapi.Callback{RequestID: "nope", CodeVerifier: verifier, VoucherCode: "EVIL", Status: "SUCCESS"}, errs.Unauthorized, 0},
		{"right_verifier_is_accepted", good, 0, 1},
		{"replayed_verifier_is_409", good, errs.Conflict, 1},
		{"replay_with_other_code_is_409", vpsapi.Callback{RequestID: "r1", CodeVerifier: verifier, VoucherCode: "EVIL", Status: "SUCCESS"}, errs.Conflict, 1},
	}
	c, mem := newClock(), testkit.NewMemState()
	a := setup(&fakeProvider{request: ack}, c, "a", mem)
	require.NoError(t, a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123455", RequestedAt: c.now()}))
	require.Empty(t, mem.Events(events.TopicReceiveCode), "an acknowledgement published an outcome")
	c.add(10 * time.Second)
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			err := a.HandleCallback(context.Background(), s.cb)
			if s.wantKind == 0 {
				assert.NoError(t, err)
			} else if assert.Error(t, err) {
				assert.Equal(t, s.wantKind, errs.KindOf(err), "err %v", err)
			}
			pub := published(t, mem)
			require.Len(t, pub, s.published, "published")
			if s.published == 1 {
				assert.Equal(t, "LATE", pub[0].VoucherCode, "published %+v", pub[0])
				assert.Equal(t, events.StatusSuccess, pub[0].Status, "published %+v", pub[0])
			}
		})
	}
}

func TestCodeLaterThanLimitIsLateSuccess(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	a := setup(&fakeProvider{request: ack}, c, "a", mem)
	_ = a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123456", RequestedAt: c.now()})
	c.add(31 * time.Second)
	require.NoError(t, a.HandleCallback(context.Background(), vpsapi.Callback{RequestID: "r1", CodeVerifier: verifier, VoucherCode: "C", Status: "SUCCESS"}))
	pub := published(t, mem)
	require.NotEmpty(t, pub, "published")
	assert.Equal(t, events.StatusLateSuccess, pub[0].Status)
}

func TestTimeoutWaitsForTheReconciler(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	recovered := false
	p := &fakeProvider{request: unavailable, status: func(string) (domain.ProviderStatus, error) {
		if !recovered {
			return domain.ProviderStatus{Found: true, Status: "PENDING"}, nil
		}
		return domain.ProviderStatus{Found: true, Status: "SUCCESS", VoucherCode: "RECOVERED"}, nil
	}}
	a := setup(p, c, "a", mem)
	require.NoError(t, a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123458", RequestedAt: c.now()}),
		"a timeout must not fail the event")
	s, _ := a.Reconcile(context.Background(), 4)
	assert.Zero(t, s.Completed, "reconciled before the order was due: %+v", s)
	assert.Zero(t, p.statuses.Load(), "statuses asked before the order was due: %+v", s)
	c.add(3 * time.Second)
	s, _ = a.Reconcile(context.Background(), 4)
	assert.Equal(t, 1, s.Waiting, "pass 1 %+v", s)
	assert.Equal(t, int32(1), p.statuses.Load(), "pass 1 statuses")
	recovered = true
	c.add(3 * time.Second)
	s, _ = a.Reconcile(context.Background(), 4)
	assert.Equal(t, 1, s.Completed, "pass 2 %+v", s)
	assert.Equal(t, int32(1), p.requests.Load(), "order requests")
	pub := published(t, mem)
	require.Len(t, pub, 1, "published")
	assert.Equal(t, "RECOVERED", pub[0].VoucherCode, "published %+v", pub)
}

func TestOrderTheProviderNeverRecordedIsAskedAgainWithTheSameID(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	failing := true
	var asked []string
	p := &fakeProvider{
		request: func(id string) (Answer, error) {
			asked = append(asked, id)
			if failing {
				return Answer{}, errs.E(errs.Unavailable, "503")
			}
			return Answer{VoucherCode: "SECOND-TRY"}, nil
		},
		status: func(string) (domain.ProviderStatus, error) { return domain.ProviderStatus{Found: false}, nil },
	}
	a := setup(p, c, "a", mem)
	_ = a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123457", RequestedAt: c.now()})
	failing = false
	c.add(3 * time.Second)
	s, _ := a.Reconcile(context.Background(), 4)
	assert.Equal(t, 1, s.Completed, "%+v", s)
	assert.Equal(t, []string{"r1", "r1"}, asked, "asked")
}

func TestNoCodeByTheDeadlineFails(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	p := &fakeProvider{request: unavailable, status: func(string) (domain.ProviderStatus, error) {
		return domain.ProviderStatus{}, errs.E(errs.Unavailable, "503")
	}}
	a := setup(p, c, "a", mem)
	_ = a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123459", RequestedAt: c.now()})
	c.add(2*time.Minute + time.Second)
	s, _ := a.Reconcile(context.Background(), 4)
	assert.Equal(t, 1, s.Failed, "%+v", s)
	pub := published(t, mem)
	require.Len(t, pub, 1, "published")
	assert.Equal(t, events.StatusFailed, pub[0].Status, "published %+v", pub)
	assert.NotEmpty(t, pub[0].Reason, "published %+v", pub)
	// A code that comes after the failure is refused: the customer was told.
	assert.Error(t, a.HandleCallback(context.Background(), vpsapi.Callback{RequestID: "r1", CodeVerifier: verifier, VoucherCode: "X"}),
		"callback accepted after the order failed")
}

func TestTwoReplicasNeverWorkOnOneOrderAtOnce(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	release := make(chan struct{})
	p := &fakeProvider{request: unavailable, status: func(string) (domain.ProviderStatus, error) {
		<-release // hold every status call until both passes have claimed
		return domain.ProviderStatus{Found: true, Status: "PENDING"}, nil
	}}
	a, b := setup(p, c, "replica-a", mem), setup(p, c, "replica-b", mem)
	for i := range 10 {
		id := string(rune('a' + i))
		_ = a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: id, PhoneNumber: "+84909123458", RequestedAt: c.now()})
	}
	c.add(3 * time.Second)
	var wg sync.WaitGroup
	for _, r := range []App{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = r.Reconcile(context.Background(), 20) }()
	}
	// Claims are ETag writes and outlive the lease on this clock, so however
	// the two passes interleave, each order is claimed, and asked about, once.
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	assert.Equal(t, int32(10), p.statuses.Load(), "provider asked about 10 orders: two replicas worked on one order")
}

func TestEventWithoutIDsIsInvalid(t *testing.T) {
	a := setup(&fakeProvider{}, newClock(), "a", testkit.NewMemState())
	err := a.HandleRequestCode(context.Background(), events.RequestCode{})
	assert.Equal(t, errs.Invalid, errs.KindOf(err), "err %v", err)
}

func TestACodeIssuedJustBeforeTheDeadlineIsNotDropped(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	p := &fakeProvider{request: unavailable, status: func(string) (domain.ProviderStatus, error) {
		return domain.ProviderStatus{Found: true, Status: "SUCCESS", VoucherCode: "JUST-IN-TIME"}, nil
	}}
	a := setup(p, c, "a", mem)
	_ = a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123458", RequestedAt: c.now()})
	c.add(3 * time.Minute) // the first look comes after the deadline
	s, _ := a.Reconcile(context.Background(), 4)
	assert.Equal(t, 1, s.Completed, "%+v", s)
	pub := published(t, mem)
	require.Len(t, pub, 1, "published")
	assert.Equal(t, "JUST-IN-TIME", pub[0].VoucherCode, "published %+v", pub)
}

// TestAReconcilePassCountsAndLogsWhatItCouldNotDo: a provider that cannot
// say where an order stands leaves it waiting, and the pass says so: in
// its summary by reason, in the failure counter, and in the log.
func TestAReconcilePassCountsAndLogsWhatItCouldNotDo(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	p := &fakeProvider{request: unavailable, status: func(string) (domain.ProviderStatus, error) {
		return domain.ProviderStatus{}, errs.E(errs.Unavailable, "provider status: 503")
	}}
	a := setup(p, c, "a", mem)
	var logged strings.Builder
	a.Log = slog.New(slog.NewTextHandler(&logged, nil))
	counted := &testkit.Failures{}
	a.Failures = counted
	require.NoError(t, a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123458", RequestedAt: c.now()}))
	c.add(3 * time.Second)
	s, err := a.Reconcile(context.Background(), 4)
	require.NoError(t, err)
	assert.Equal(t, 1, s.Waiting, "left waiting: %+v", s)
	assert.Equal(t, errs.Reasons{"unavailable": 1}, s.Errors, "summary")
	assert.Equal(t, map[string]int{"reconcile/unavailable": 1}, counted.By(), "counted")
	assert.Contains(t, logged.String(), "purchase_id=r1", "logged with the order")
	assert.Contains(t, logged.String(), "reason=unavailable", "logged with its reason")
}

// broken fails whatever is asked of it: a store that is down.
type broken struct{}

func (broken) Add(context.Context, string) error    { return errs.E(errs.Unavailable, "store down") }
func (broken) Remove(context.Context, string) error { return errs.E(errs.Unavailable, "store down") }
func (broken) All(context.Context) ([]string, error) {
	return nil, errs.E(errs.Unavailable, "store down")
}

// TestAReconcilePassThatCannotStartSaysWhy: when neither the orders coming
// due nor the pending set can be read, the pass fails, and both failures
// are counted with their reason; the first is logged here, the second is
// returned for the cron route to log (ports.reconcilePass).
func TestAReconcilePassThatCannotStartSaysWhy(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	a := setup(&fakeProvider{request: unavailable}, c, "a", mem)
	a.Pending, a.Due = broken{}, brokenSchedule{}
	var logged strings.Builder
	a.Log = slog.New(slog.NewTextHandler(&logged, nil))
	counted := &testkit.Failures{}
	a.Failures = counted
	_, err := a.Reconcile(context.Background(), 4)
	require.Error(t, err)
	assert.Equal(t, map[string]int{"reconcile/unavailable": 2}, counted.By(), "counted")
	assert.Contains(t, logged.String(), `msg="new orders not handed to the reconciler yet" reason=unavailable`)
	assert.Equal(t, errs.Unavailable, errs.KindOf(err), "the pass's own failure, which its caller logs")
}

// brokenSchedule is a schedule whose sweep cannot read its buckets.
type brokenSchedule struct{}

func (brokenSchedule) Add(context.Context, string, time.Duration) error { return nil }
func (brokenSchedule) SweepEach(context.Context, func(context.Context, []string) []error) (persist.SweepSummary, error) {
	return persist.SweepSummary{}, errs.E(errs.Unavailable, "store down")
}
