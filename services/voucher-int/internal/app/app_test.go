package app

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/events"
	"github.com/bankabc/vouchers/kit/testkit"
)

// fakeProvider answers with a function field and counts calls.
type fakeProvider struct {
	calls   int
	request func(requestID string) (Answer, error)
}

func (f *fakeProvider) Request(_ context.Context, requestID, _ string) (Answer, error) {
	f.calls++
	return f.request(requestID)
}

func setup(p *fakeProvider, now time.Time) (App, *testkit.MemState) {
	mem := testkit.NewMemState()
	return App{
		Orders:    daprx.Store[Order]{Client: mem, Name: "voucher-int-store"},
		Provider:  p,
		Now:       func() time.Time { return now },
		LateAfter: 30 * time.Second,
	}, mem
}

func published(t *testing.T, mem *testkit.MemState) []events.ReceiveCode {
	t.Helper()
	var out []events.ReceiveCode
	for _, tx := range mem.Txns {
		var ev events.ReceiveCode
		if err := json.Unmarshal(tx[len(tx)-1].Item.Value, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func TestImmediateCodeIsPublishedOnce(t *testing.T) {
	now := time.Now()
	p := &fakeProvider{request: func(string) (Answer, error) { return Answer{VoucherCode: "CODE"}, nil }}
	a, mem := setup(p, now)
	ev := events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123456", RequestedAt: now}
	for range 3 { // the same event, redelivered
		if err := a.HandleRequestCode(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	pub := published(t, mem)
	if p.calls != 1 || len(pub) != 1 || pub[0].Status != events.StatusSuccess || pub[0].VoucherCode != "CODE" {
		t.Fatalf("provider calls %d, published %+v", p.calls, pub)
	}
}

func TestCodeLaterThanLimitIsLateSuccess(t *testing.T) {
	now := time.Now()
	p := &fakeProvider{request: func(string) (Answer, error) { return Answer{VoucherCode: "CODE"}, nil }}
	a, mem := setup(p, now)
	ev := events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123456", RequestedAt: now.Add(-31 * time.Second)}
	if err := a.HandleRequestCode(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if pub := published(t, mem); pub[0].Status != events.StatusLateSuccess {
		t.Fatalf("status %s", pub[0].Status)
	}
}

func TestProviderWithoutAnswerIsRetriedWithTheSameOrder(t *testing.T) {
	now := time.Now()
	fail := true
	p := &fakeProvider{request: func(string) (Answer, error) {
		if fail {
			return Answer{}, errs.Wrap(errs.Unavailable, errors.New("deadline"), "provider timeout")
		}
		return Answer{VoucherCode: "CODE"}, nil
	}}
	a, mem := setup(p, now)
	ev := events.RequestCode{RequestID: "r1", PhoneNumber: "+84909123456", RequestedAt: now}
	if err := a.HandleRequestCode(context.Background(), ev); errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("err %v, want Unavailable (retry)", err)
	}
	if len(mem.Txns) != 0 {
		t.Fatal("a timeout published an outcome")
	}
	fail = false
	if err := a.HandleRequestCode(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if pub := published(t, mem); len(pub) != 1 || p.calls != 2 {
		t.Fatalf("published %+v after %d calls", pub, p.calls)
	}
}

func TestEventWithoutIDsIsInvalid(t *testing.T) {
	a, _ := setup(&fakeProvider{}, time.Now())
	if err := a.HandleRequestCode(context.Background(), events.RequestCode{}); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("err %v", err)
	}
}
