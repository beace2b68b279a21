package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bankabc/vouchers/api"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/pkce"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/kit/vpsapi"
)

// fakeProvider answers with function fields and counts calls.
type fakeProvider struct {
	requests, statuses atomic.Int32
	request            func(requestID string) (Answer, error)
	status             func(requestID string) (ProviderStatus, error)
}

func (f *fakeProvider) Request(_ context.Context, requestID, _ string) (Answer, error) {
	f.requests.Add(1)
	return f.request(requestID)
}

func (f *fakeProvider) Status(_ context.Context, requestID string) (ProviderStatus, error) {
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
		Orders: daprx.Store[Order]{Client: mem, Name: "voucher-int-store",
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
		if err := json.Unmarshal(p.Data, &ev); err != nil {
			t.Fatal(err)
		}
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
		if err := a.HandleRequestCode(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	pub := published(t, mem)
	if p.requests.Load() != 1 || len(pub) != 1 || pub[0].Status != events.StatusSuccess || pub[0].VoucherCode != "CODE" {
		t.Fatalf("provider calls %d, published %+v", p.requests.Load(), pub)
	}
	if ids, _ := a.Pending.All(context.Background()); len(ids) != 0 {
		t.Fatalf("completed order still pending: %v", ids)
	}
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
	if err := a.HandleRequestCode(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	c.add(time.Minute)
	if err := a.HandleRequestCode(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	first := published(t, mem)
	if p.requests.Load() != 1 || len(first) != 1 || len(out.sent) != 1 || out.sent[0] != first[0] {
		t.Fatalf("provider calls %d, outbox %+v, sent again %+v", p.requests.Load(), first, out.sent)
	}
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
	if err := a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123455", RequestedAt: c.now()}); err != nil {
		t.Fatal(err)
	}
	if len(mem.Events(events.TopicReceiveCode)) != 0 {
		t.Fatal("an acknowledgement published an outcome")
	}
	c.add(10 * time.Second)
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			err := a.HandleCallback(context.Background(), s.cb)
			if got := errs.KindOf(err); (err == nil) != (s.wantKind == 0) || (err != nil && got != s.wantKind) {
				t.Fatalf("err %v (kind %v), want kind %v", err, got, s.wantKind)
			}
			pub := published(t, mem)
			if len(pub) != s.published {
				t.Fatalf("published %d, want %d", len(pub), s.published)
			}
			if s.published == 1 && (pub[0].VoucherCode != "LATE" || pub[0].Status != events.StatusSuccess) {
				t.Fatalf("published %+v", pub[0])
			}
		})
	}
}

func TestCodeLaterThanLimitIsLateSuccess(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	a := setup(&fakeProvider{request: ack}, c, "a", mem)
	_ = a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123456", RequestedAt: c.now()})
	c.add(31 * time.Second)
	if err := a.HandleCallback(context.Background(), vpsapi.Callback{RequestID: "r1", CodeVerifier: verifier, VoucherCode: "C", Status: "SUCCESS"}); err != nil {
		t.Fatal(err)
	}
	if pub := published(t, mem); pub[0].Status != events.StatusLateSuccess {
		t.Fatalf("status %s", pub[0].Status)
	}
}

func TestTimeoutWaitsForTheReconciler(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	recovered := false
	p := &fakeProvider{request: unavailable, status: func(string) (ProviderStatus, error) {
		if !recovered {
			return ProviderStatus{Found: true, Status: "PENDING"}, nil
		}
		return ProviderStatus{Found: true, Status: "SUCCESS", VoucherCode: "RECOVERED"}, nil
	}}
	a := setup(p, c, "a", mem)
	if err := a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123458", RequestedAt: c.now()}); err != nil {
		t.Fatalf("a timeout must not fail the event: %v", err)
	}
	if s, _ := a.Reconcile(context.Background(), 4); s.Completed != 0 || p.statuses.Load() != 0 {
		t.Fatalf("reconciled before the order was due: %+v", s)
	}
	c.add(3 * time.Second)
	if s, _ := a.Reconcile(context.Background(), 4); s.Waiting != 1 || p.statuses.Load() != 1 {
		t.Fatalf("pass 1 %+v, statuses %d", s, p.statuses.Load())
	}
	recovered = true
	c.add(3 * time.Second)
	if s, _ := a.Reconcile(context.Background(), 4); s.Completed != 1 {
		t.Fatalf("pass 2 %+v", s)
	}
	pub := published(t, mem)
	if len(pub) != 1 || pub[0].VoucherCode != "RECOVERED" || p.requests.Load() != 1 {
		t.Fatalf("published %+v after %d order requests", pub, p.requests.Load())
	}
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
		status: func(string) (ProviderStatus, error) { return ProviderStatus{Found: false}, nil },
	}
	a := setup(p, c, "a", mem)
	_ = a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123457", RequestedAt: c.now()})
	failing = false
	c.add(3 * time.Second)
	if s, _ := a.Reconcile(context.Background(), 4); s.Completed != 1 {
		t.Fatalf("%+v", s)
	}
	if len(asked) != 2 || asked[0] != "r1" || asked[1] != "r1" {
		t.Fatalf("asked %v", asked)
	}
}

func TestNoCodeByTheDeadlineFails(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	p := &fakeProvider{request: unavailable, status: func(string) (ProviderStatus, error) { return ProviderStatus{}, errs.E(errs.Unavailable, "503") }}
	a := setup(p, c, "a", mem)
	_ = a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123459", RequestedAt: c.now()})
	c.add(2*time.Minute + time.Second)
	if s, _ := a.Reconcile(context.Background(), 4); s.Failed != 1 {
		t.Fatalf("%+v", s)
	}
	pub := published(t, mem)
	if len(pub) != 1 || pub[0].Status != events.StatusFailed || pub[0].Reason == "" {
		t.Fatalf("published %+v", pub)
	}
	// A code that comes after the failure is refused: the customer was told.
	if err := a.HandleCallback(context.Background(), vpsapi.Callback{RequestID: "r1", CodeVerifier: verifier, VoucherCode: "X"}); err == nil {
		t.Fatal("callback accepted after the order failed")
	}
}

func TestTwoReplicasNeverWorkOnOneOrderAtOnce(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	release := make(chan struct{})
	p := &fakeProvider{request: unavailable, status: func(string) (ProviderStatus, error) {
		<-release // hold every status call until both passes have claimed
		return ProviderStatus{Found: true, Status: "PENDING"}, nil
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
	if got := p.statuses.Load(); got != 10 {
		t.Fatalf("provider asked %d times about 10 orders: two replicas worked on one order", got)
	}
}

func TestEventWithoutIDsIsInvalid(t *testing.T) {
	a := setup(&fakeProvider{}, newClock(), "a", testkit.NewMemState())
	if err := a.HandleRequestCode(context.Background(), events.RequestCode{}); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("err %v", err)
	}
}

func TestACodeIssuedJustBeforeTheDeadlineIsNotDropped(t *testing.T) {
	c, mem := newClock(), testkit.NewMemState()
	p := &fakeProvider{request: unavailable, status: func(string) (ProviderStatus, error) {
		return ProviderStatus{Found: true, Status: "SUCCESS", VoucherCode: "JUST-IN-TIME"}, nil
	}}
	a := setup(p, c, "a", mem)
	_ = a.HandleRequestCode(context.Background(), events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123458", RequestedAt: c.now()})
	c.add(3 * time.Minute) // the first look comes after the deadline
	if s, _ := a.Reconcile(context.Background(), 4); s.Completed != 1 {
		t.Fatalf("%+v", s)
	}
	if pub := published(t, mem); len(pub) != 1 || pub[0].VoucherCode != "JUST-IN-TIME" {
		t.Fatalf("published %+v", pub)
	}
}
