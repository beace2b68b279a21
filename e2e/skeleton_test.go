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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/tools/runner"
)

type voucherList struct {
	PhoneNumber string `json:"phoneNumber"`
	Vouchers    []struct {
		RequestID   string `json:"requestId"`
		VoucherCode string `json:"voucherCode"`
		Status      string `json:"status"`
	} `json:"vouchers"`
	NextCursor string `json:"nextCursor"`
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
	require.Equal(t, http.StatusAccepted, r.Status, "purchase: %s", r.Body)
	var accepted requestView
	r.json(t, &accepted)
	loc := r.Header.Get("Location")
	require.Equal(t, "/voucher/requests/"+accepted.RequestID, loc, "Location")
	assert.NotEmpty(t, r.Header.Get("Retry-After"), "Retry-After")
	assert.Equal(t, "PROCESSING", accepted.Status, "acknowledgement %+v", accepted)
	assert.Equal(t, 0, accepted.State, "acknowledgement %+v", accepted)
	assert.Equal(t, "Your request is being processed within 30 seconds", accepted.Message, "acknowledgement %+v", accepted)

	final := c.waitFinal(loc)
	require.Equal(t, "SUCCESS", final.Status, "final %+v", final)
	require.Equal(t, 1, final.State, "final %+v", final)
	require.Equal(t, 100, final.Progress, "final %+v", final)
	require.NotEmpty(t, final.VoucherCode, "final %+v", final)

	// The list comes from the voucher service, through service invocation.
	var list voucherList
	lr := c.do("GET", "/voucher?phoneNumber="+url.QueryEscape(phone), nil, nil)
	require.Equal(t, http.StatusOK, lr.Status, "list: %s", lr.Body)
	lr.json(t, &list)
	require.Len(t, list.Vouchers, 1, "list %+v, want the one code %s", list, final.VoucherCode)
	assert.Equal(t, final.VoucherCode, list.Vouchers[0].VoucherCode, "list %+v", list)
	assert.Equal(t, accepted.RequestID, list.Vouchers[0].RequestID, "list %+v", list)
	assert.Empty(t, list.NextCursor, "the one page is the last")
	// The page's parameters reach voucher through the invocation: a
	// cursor it never gave is refused there.
	var page voucherList
	pr := c.do("GET", "/voucher?limit=1&phoneNumber="+url.QueryEscape(phone), nil, nil)
	require.Equal(t, http.StatusOK, pr.Status, "a page of one: %s", pr.Body)
	pr.json(t, &page)
	assert.Len(t, page.Vouchers, 1, "a page of one: %s", pr.Body)
	bad := c.do("GET", "/voucher?cursor=bm9wZQ&phoneNumber="+url.QueryEscape(phone), nil, nil)
	assert.Equal(t, http.StatusBadRequest, bad.Status, "a cursor voucher never gave: %s", bad.Body)
	assert.Contains(t, string(bad.Body), "cursor", "a cursor voucher never gave")

	// The provider issued exactly that code, once.
	o := providerOrderOf(t, accepted.RequestID)
	assert.Equal(t, 1, o.CodesIssued, "provider order %+v", o)
	assert.Equal(t, final.VoucherCode, o.VoucherCode, "provider order %+v", o)
}

func providerOrderOf(t *testing.T, requestID string) providerOrder {
	t.Helper()
	resp, err := providerControl("GET", "/api/orders", "")
	require.NoError(t, err)
	defer resp.Body.Close()
	var orders []providerOrder
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&orders))
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
	require.Equal(t, http.StatusAccepted, first.Status, "first: %s", first.Body)
	require.Equal(t, http.StatusAccepted, second.Status, "second: %s", second.Body)
	var a, b requestView
	first.json(t, &a)
	second.json(t, &b)
	assert.Equal(t, a.RequestID, b.RequestID, "replay made a new request")
	assert.Equal(t, "true", second.Header.Get("Idempotent-Replayed"), "Idempotent-Replayed of the replay")
	other := c.do("POST", "/voucher", map[string]string{"phoneNumber": phone, "callbackUrl": "http://127.0.0.1:9/hook"}, key)
	assert.Equal(t, http.StatusUnprocessableEntity, other.Status, "same key, other body: %s", other.Body)
	c.waitFinal("/voucher/requests/" + a.RequestID)
	o := providerOrderOf(t, a.RequestID)
	assert.Equal(t, 1, o.CodesIssued, "provider order %+v", o)
	var list voucherList
	c.do("GET", "/voucher?phoneNumber="+url.QueryEscape(phone), nil, nil).json(t, &list)
	assert.Len(t, list.Vouchers, 1, "two purchases with one Idempotency-Key: %+v", list)
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
			require.Equal(t, tc.status, tc.resp.Status, "status: %s", tc.resp.Body)
			assert.Equal(t, "application/problem+json", tc.resp.Header.Get("Content-Type"), "content type")
			var p struct {
				Type   string `json:"type"`
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			tc.resp.json(t, &p)
			assert.Equal(t, tc.status, p.Status, "problem %+v", p)
			assert.NotEmpty(t, p.Type, "problem %+v", p)
			assert.NotEmpty(t, p.Detail, "problem %+v", p)
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
			assert.NotZero(t, eventsTaken(t, at[0], at[1]), "%s's sidecar delivered no %s event", at[0], at[1])
		}
	})

	t.Run("events_went_through_the_broker", func(t *testing.T) {
		if sys.BrokerURL() == "" {
			t.Skip("reads the embedded broker's streams; on " + profile() + " the sidecars' metrics above stand for it")
		}
		_, err := nats.Connect(sys.BrokerURL())
		require.Error(t, err, "the broker took a client without its token")
		nc, err := nats.Connect(sys.BrokerURL(), nats.Token(sys.BrokerToken()))
		require.NoError(t, err)
		defer nc.Close()
		js, _ := jetstream.New(nc)
		for _, topic := range []string{"request-code", "receive-code", "send-sms"} {
			s, err := js.Stream(context.Background(), runner.StreamName(topic))
			require.NoError(t, err)
			msg, err := s.GetLastMsgForSubject(context.Background(), topic)
			require.NoError(t, err, "no message on %s", topic)
			assert.NoError(t, checkCloudEvent(topic, msg.Data), "%s\n%s", topic, msg.Data)
		}
	})

	t.Run("request_is_in_gateways_state_store", func(t *testing.T) {
		resp, err := sidecarCall("gateway", "GET", "/v1.0/state/gateway-store/request%7C"+req.RequestID, "")
		require.NoError(t, err)
		defer resp.Body.Close()
		var stored struct {
			RequestID   string `json:"requestId"`
			VoucherCode string `json:"voucherCode"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&stored), "state store has %+v", stored)
		assert.Equal(t, final.VoucherCode, stored.VoucherCode, "state store has %+v", stored)
	})

	t.Run("listing_needs_vouchers_sidecar", func(t *testing.T) {
		// Every instance's: with one left, invocations go to it.
		for _, inst := range sys.Instances("voucher") {
			require.NoError(t, sys.Kill(inst, runner.PartDapr))
		}
		down := c.do("GET", "/voucher?phoneNumber="+url.QueryEscape(phone), nil, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, inst := range sys.Instances("voucher") {
			require.NoError(t, sys.Restart(ctx, inst, runner.PartDapr))
		}
		require.GreaterOrEqual(t, down.Status, 500, "with voucher's sidecar down the list answered: %s", down.Body)
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
				up.json(t, &list)
				require.Len(t, list.Vouchers, 1, "after restart: %s", up.Body)
				break
			}
			if up.Status < 500 || time.Now().After(deadline) {
				t.Fatalf("after restart: %d %s", up.Status, up.Body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}
