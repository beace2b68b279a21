package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bankabc/vouchers/tools/runner"
)

type voucherList struct {
	PhoneNumber string `json:"phoneNumber"`
	Vouchers    []struct {
		RequestID   string `json:"requestId"`
		VoucherCode string `json:"voucherCode"`
		Status      string `json:"status"`
	} `json:"vouchers"`
}

type providerOrder struct {
	RequestID   string `json:"requestId"`
	VoucherCode string `json:"voucherCode"`
	Calls       int    `json:"calls"`
	CodesIssued int    `json:"codesIssued"`
}

// TestSignUpBuyAndListThroughSidecars is the walking skeleton: sign up, buy a
// voucher from the provider fake (immediate mode), read it back.
func TestSignUpBuyAndListThroughSidecars(t *testing.T) {
	c := newClient(t)
	phone := uniquePhone(0)
	c.signUp(uniqueName("alice"), phone)

	r := c.do("POST", "/voucher", map[string]string{"phoneNumber": phone}, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("purchase: %d %s", r.Status, r.Body)
	}
	var accepted requestView
	r.json(t, &accepted)
	loc := r.Header.Get("Location")
	if loc != "/voucher/requests/"+accepted.RequestID || r.Header.Get("Retry-After") == "" {
		t.Fatalf("Location %q Retry-After %q", loc, r.Header.Get("Retry-After"))
	}
	if accepted.Status != "PROCESSING" || accepted.State != 0 || accepted.Message != "Your request is being processed within 30 seconds" {
		t.Fatalf("acknowledgement %+v", accepted)
	}

	final := c.waitFinal(loc)
	if final.Status != "SUCCESS" || final.State != 1 || final.Progress != 100 || final.VoucherCode == "" {
		t.Fatalf("final %+v", final)
	}

	// The list comes from the voucher service, through service invocation.
	var list voucherList
	lr := c.do("GET", "/voucher?phoneNumber="+url.QueryEscape(phone), nil, nil)
	if lr.Status != http.StatusOK {
		t.Fatalf("list: %d %s", lr.Status, lr.Body)
	}
	lr.json(t, &list)
	if len(list.Vouchers) != 1 || list.Vouchers[0].VoucherCode != final.VoucherCode || list.Vouchers[0].RequestID != accepted.RequestID {
		t.Fatalf("list %+v, want the one code %s", list, final.VoucherCode)
	}

	// The provider issued exactly that code, once.
	o := providerOrderOf(t, accepted.RequestID)
	if o.CodesIssued != 1 || o.VoucherCode != final.VoucherCode {
		t.Fatalf("provider order %+v", o)
	}
}

func providerOrderOf(t *testing.T, requestID string) providerOrder {
	t.Helper()
	resp, err := http.Get(sys.AppURL("voucher-provider") + "/api/orders")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var orders []providerOrder
	if err := json.NewDecoder(resp.Body).Decode(&orders); err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		if o.RequestID == requestID {
			return o
		}
	}
	t.Fatalf("provider has no order %s", requestID)
	return providerOrder{}
}

// TestQueryStringFormAndIdempotencyKey: the original design's query-string
// form works, and the same Idempotency-Key replays the first answer.
func TestQueryStringFormAndIdempotencyKey(t *testing.T) {
	c := newClient(t)
	phone := uniquePhone(0)
	c.signUp(uniqueName("bob"), phone)
	path := "/voucher?phoneNumber=" + url.QueryEscape(phone)
	key := map[string]string{"Idempotency-Key": "order-" + uniqueName("k")}

	first := c.do("POST", path, nil, key)
	second := c.do("POST", path, nil, key)
	if first.Status != http.StatusAccepted || second.Status != http.StatusAccepted {
		t.Fatalf("statuses %d %d: %s", first.Status, second.Status, second.Body)
	}
	var a, b requestView
	first.json(t, &a)
	second.json(t, &b)
	if a.RequestID != b.RequestID || second.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay made a new request: %s vs %s", a.RequestID, b.RequestID)
	}
	other := c.do("POST", "/voucher", map[string]string{"phoneNumber": phone, "callbackUrl": "http://127.0.0.1:9/hook"}, key)
	if other.Status != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other body: %d %s", other.Status, other.Body)
	}
	c.waitFinal("/voucher/requests/" + a.RequestID)
	if o := providerOrderOf(t, a.RequestID); o.CodesIssued != 1 {
		t.Fatalf("provider order %+v", o)
	}
	var list voucherList
	c.do("GET", "/voucher?phoneNumber="+url.QueryEscape(phone), nil, nil).json(t, &list)
	if len(list.Vouchers) != 1 {
		t.Fatalf("two purchases with one Idempotency-Key: %+v", list)
	}
}

// TestOtherPeoplesNumbersAndRequestsAreRefused checks ownership and the
// problem+json shape of refusals.
func TestOtherPeoplesNumbersAndRequestsAreRefused(t *testing.T) {
	alice, mallory := newClient(t), newClient(t)
	alicePhone := uniquePhone(0)
	alice.signUp(uniqueName("alice"), alicePhone)
	mallory.signUp(uniqueName("mallory"), uniquePhone(0))

	r := alice.do("POST", "/voucher", map[string]string{"phoneNumber": alicePhone}, nil)
	var req requestView
	r.json(t, &req)

	cases := []struct {
		name   string
		resp   response
		status int
	}{
		{"buy_for_someone_else", mallory.do("POST", "/voucher", map[string]string{"phoneNumber": alicePhone}, nil), 403},
		{"list_someone_elses_vouchers", mallory.do("GET", "/voucher?phoneNumber="+url.QueryEscape(alicePhone), nil, nil), 403},
		{"read_someone_elses_request", mallory.do("GET", "/voucher/requests/"+req.RequestID, nil, nil), 404},
		{"no_token", (&client{t: t, base: sys.PublicURL("gateway")}).do("GET", "/voucher?phoneNumber=1", nil, nil), 401},
		{"garbage_token", (&client{t: t, base: sys.PublicURL("gateway"), token: "not.a.jwt"}).do("GET", "/voucher?phoneNumber=1", nil, nil), 401},
		{"unknown_field", alice.do("POST", "/voucher", map[string]any{"phoneNumber": alicePhone, "amount": 5}, nil), 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.resp.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", tc.resp.Status, tc.status, tc.resp.Body)
			}
			if ct := tc.resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			var p struct {
				Type   string `json:"type"`
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			tc.resp.json(t, &p)
			if p.Status != tc.status || p.Type == "" || p.Detail == "" {
				t.Fatalf("problem %+v", p)
			}
		})
	}
}

// TestTheSidecarsAreReallyInThePath fails if any hop bypasses Dapr: the
// events must be in the broker's streams (only daprd talks to the broker),
// the request must be in gateway's state store as daprd keeps it, and the
// voucher list must stop working while voucher's sidecar is down.
func TestTheSidecarsAreReallyInThePath(t *testing.T) {
	c := newClient(t)
	phone, name := uniquePhone(0), uniqueName("carol")
	c.signUp(name, phone)
	var req requestView
	c.do("POST", "/voucher", map[string]string{"phoneNumber": phone}, nil).json(t, &req)
	final := c.waitFinal("/voucher/requests/" + req.RequestID)

	t.Run("sidecars_delivered_the_events", func(t *testing.T) {
		for _, at := range [][2]string{{"voucher-int", "request-code"}, {"voucher", "receive-code"}, {"gateway", "receive-code"}} {
			if n := eventsTaken(t, at[0], at[1]); n == 0 {
				t.Errorf("%s's sidecar delivered no %s event", at[0], at[1])
			}
		}
	})

	t.Run("events_went_through_the_broker", func(t *testing.T) {
		if sys.BrokerURL() == "" {
			t.Skip("reads the embedded broker's streams; on " + profile() + " the sidecars' metrics above stand for it")
		}
		nc, err := nats.Connect(sys.BrokerURL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		for _, topic := range []string{"request-code", "receive-code", "send-sms"} {
			s, err := js.Stream(context.Background(), runner.StreamName(topic))
			if err != nil {
				t.Fatal(err)
			}
			msg, err := s.GetLastMsgForSubject(context.Background(), topic)
			if err != nil {
				t.Fatalf("no message on %s: %v", topic, err)
			}
			if err := checkCloudEvent(topic, msg.Data); err != nil {
				t.Errorf("%s: %v\n%s", topic, err, msg.Data)
			}
		}
	})

	t.Run("request_is_in_gateways_state_store", func(t *testing.T) {
		resp, err := sidecarCall("gateway", "GET", "/v1.0/state/gateway-store/request%7C"+req.RequestID, "")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var stored struct {
			RequestID   string `json:"requestId"`
			VoucherCode string `json:"voucherCode"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&stored); err != nil || stored.VoucherCode != final.VoucherCode {
			t.Fatalf("state store has %+v (%v), want code %s", stored, err, final.VoucherCode)
		}
	})

	t.Run("listing_needs_vouchers_sidecar", func(t *testing.T) {
		if err := sys.Kill("voucher", runner.PartDapr); err != nil {
			t.Fatal(err)
		}
		down := c.do("GET", "/voucher?phoneNumber="+url.QueryEscape(phone), nil, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := sys.Restart(ctx, "voucher", runner.PartDapr); err != nil {
			t.Fatal(err)
		}
		if down.Status < 500 {
			t.Fatalf("with voucher's sidecar down the list answered %d: %s", down.Status, down.Body)
		}
		// On a loaded machine the restart can outlast the suite's idle
		// timeout (sessionIdle), and the session with it: sign in again, as the
		// customer would.
		c.signIn(name)
		// The restarted sidecar reports healthy before its own first probe
		// of the app has passed, and invocations until then are refused
		// (seen once on postgres-rabbitmq): the list must work again, soon.
		deadline := time.Now().Add(time.Minute)
		for {
			var list voucherList
			up := c.do("GET", "/voucher?phoneNumber="+url.QueryEscape(phone), nil, nil)
			if up.Status == 200 {
				if up.json(t, &list); len(list.Vouchers) != 1 {
					t.Fatalf("after restart: %s", up.Body)
				}
				break
			}
			if up.Status < 500 || time.Now().After(deadline) {
				t.Fatalf("after restart: %d %s", up.Status, up.Body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}
