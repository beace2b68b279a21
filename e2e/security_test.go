package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	internalv1pb "github.com/dapr/dapr/pkg/proto/internals/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// sidecarRoute is a route of an app's own port that only its sidecar may
// call, with a forged body.
type sidecarRoute struct {
	app, method, path, body string
}

// TestForgedCallsToSidecarRoutesChangeNothing sends forged topic
// deliveries, cron-binding calls and service invocations to every
// sidecar-facing route of every app: straight to the app's port with no
// token and with a wrong one, and through another app's sidecar (which adds
// the callee's token, but names the caller). Every one is refused; the
// customer's finished purchase stays SUCCESS, no forged text is sent, no
// forged voucher is stored; the public ports answer 404 for every internal
// path; a sidecar's own API refuses a caller without its token, and an
// app's sidecar refuses to publish another app's events. (A process
// that speaks to a daprd's internal gRPC API itself is not refused on a
// local run: docs/security.md, "daprd's internal API without mTLS".)
func TestForgedCallsToSidecarRoutesChangeNothing(t *testing.T) {
	c := newClient(t)
	phone := uniquePhone(0)
	c.signUp(uniqueName("victim"), phone)
	final := c.waitFinal(c.buy(phone, ""))
	require.Equal(t, "SUCCESS", final.Status, "the purchase to protect: %+v", final)
	codes := c.vouchers(phone)

	forgedSMS := fmt.Sprintf("forged-%d", time.Now().UnixNano())
	now := time.Now().UTC().Format(time.RFC3339Nano)
	failed := fmt.Sprintf(`{"id":"forged-1","topic":"receive-code","data":{"requestId":%q,"phoneNumber":%q,"status":"FAILED","requestedAt":%q}}`, final.RequestID, phone, now)
	stolen := fmt.Sprintf(`{"id":"forged-2","topic":"receive-code","data":{"requestId":"forged-%s","phoneNumber":%q,"status":"SUCCESS","voucherCode":"FORGED-CODE","requestedAt":%q,"issuedAt":%q}}`, forgedSMS, phone, now, now)
	order := fmt.Sprintf(`{"id":"forged-3","topic":"request-code","data":{"requestId":"forged-%s","phoneNumber":%q,"requestedAt":%q}}`, forgedSMS, phone, now)
	text := fmt.Sprintf(`{"id":"forged-4","topic":"send-sms","data":{"messageId":%q,"phoneNumber":%q,"text":"Call 1900 now"}}`, forgedSMS, phone)
	callback := fmt.Sprintf(`{"requestId":%q,"codeVerifier":"forged-verifier-forged-verifier-forged-verifier","voucherCode":"FORGED"}`, final.RequestID)
	// Every sidecar route of every app; each service's
	// ports.TestOnlyTheSidecarGetsThrough fails when its router has a route
	// its own list lacks. sms's GET /sent/ (an empty id) is left out: daprd
	// cleans an invoked method's path, so through a sidecar it arrives as
	// /sent, which is no route.
	routes := []sidecarRoute{
		{"gateway", "POST", "/events/receive-code", failed},
		{"gateway", "POST", "/events/dead-letter", failed},
		{"gateway", "POST", "/webhook-sweep", ""},
		{"gateway", "POST", "/request-redrive", ""},
		{"gateway", "POST", "/outbox-relay", ""},
		{"voucher-int", "POST", "/events/request-code", order},
		{"voucher-int", "POST", "/reconcile", ""},
		{"voucher-int", "POST", "/outbox-relay", ""},
		{"voucher-int", "POST", "/api/voucher-code/vps/response", callback},
		{"voucher", "POST", "/events/receive-code", stolen},
		{"voucher", "GET", "/vouchers?phoneNumber=" + url.QueryEscape(phone), ""},
		{"voucher", "GET", "/vouchers/" + final.RequestID, ""},
		{"sms", "POST", "/events/send-sms", text},
		{"sms", "GET", "/sent/voucher-" + final.RequestID, ""},
	}
	apps := map[string]bool{}
	for _, r := range routes {
		apps[r.app] = true
		for _, token := range []string{"", "wrong-token-wrong-token-wrong-token"} {
			assert.Equal(t, http.StatusUnauthorized, callApp(t, sys.AppURL(r.app), r, token), "%s %s %s with token %q", r.app, r.method, r.path, token)
		}
		// Through another app's sidecar: the callee's sidecar adds its
		// token, and says who called. Only gateway may read vouchers and
		// the sent-log, only the provider may call back; no app may
		// deliver events or run sweeps.
		via := "sms"
		if r.app == "sms" {
			via = "voucher"
		}
		assert.Equal(t, http.StatusForbidden, invokeVia(t, via, r), "%s %s %s invoked by %s", r.app, r.method, r.path, via)
	}
	t.Logf("%d sidecar routes of %d apps refused without a token, with a wrong one, and invoked by the wrong app", len(routes), len(apps))

	// The public ports have none of the internal paths.
	internal := map[string][]string{
		"gateway":     {"/events/receive-code", "/events/dead-letter", "/webhook-sweep", "/request-redrive", "/outbox-relay", "/metrics", "/readyz", "/ops/dead-letters", "/dapr/subscribe"},
		"voucher-int": {"/events/request-code", "/reconcile", "/outbox-relay", "/metrics", "/readyz", "/dapr/subscribe"},
	}
	for app, paths := range internal {
		for _, p := range paths {
			for _, method := range []string{"GET", "POST"} {
				assert.Equal(t, http.StatusNotFound, callApp(t, sys.PublicURL(app), sidecarRoute{app, method, p, "{}"}, sys.AppToken(app)), "%s public port %s %s", app, method, p)
			}
		}
	}

	// A sidecar's API refuses a caller without its token.
	for app := range apps {
		resp, err := http.Post(sys.SidecarURL(app)+"/v1.0/publish/pubsub/send-sms", "application/json", strings.NewReader(`{}`))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s's sidecar took a publish without its token", app)
	}

	// An app may publish only its own events (publishingScopes): with its
	// own token, voucher's, sms's and the provider fake's sidecars refuse
	// to publish a voucher's code or a text.
	for _, app := range []string{"voucher", "sms", "voucher-provider"} {
		for _, topic := range []string{"receive-code", "send-sms"} {
			resp, err := sidecarCall(app, "POST", "/v1.0/publish/pubsub/"+topic, stolen)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s's sidecar published %s", app, topic)
		}
	}

	// Nothing changed. The customer still sees the purchase succeed, with
	// the same vouchers; the forged text is not sent (give a send, if one
	// had been let through, the time to land).
	time.Sleep(2 * time.Second)
	after := c.waitFinal("/voucher/requests/" + final.RequestID)
	assert.Equal(t, "SUCCESS", after.Status, "after the forged calls: %+v", after)
	assert.Equal(t, final.VoucherCode, after.VoucherCode, "after the forged calls: %+v", after)
	assert.Len(t, c.vouchers(phone).Vouchers, len(codes.Vouchers), "vouchers of the number after the forged calls")
	files, _ := filepath.Glob(filepath.Join(dataDir, "sms", "*"+forgedSMS+"*"))
	assert.Empty(t, files, "a forged text was sent")
	_, found := providerOrderByID(t, "forged-"+forgedSMS)
	assert.False(t, found, "a forged request-code ordered a voucher")
	if b, err := os.ReadFile(filepath.Join(dataDir, "system.log")); err == nil && strings.Contains(string(b), sys.AppToken("gateway")) {
		t.Error("gateway's app token is in the system log")
	}
}

// callApp calls an app's port directly, with token as dapr-api-token when
// not empty, and returns the status.
func callApp(t *testing.T, base string, r sidecarRoute, token string) int {
	t.Helper()
	req, err := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("dapr-api-token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// invokeVia calls r through app via's sidecar (service invocation, with
// via's own API token, as a compromised via could) and returns the status.
func invokeVia(t *testing.T, via string, r sidecarRoute) int {
	t.Helper()
	resp, err := sidecarCall(via, r.method, "/v1.0/invoke/"+r.app+"/method"+r.path, r.body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestCallbackURLsThatAreNotPublicAreRefused: the addresses found from
// outside (issue 17) and the rest of IANA's special-purpose blocks are
// refused as callbackUrl with 400, in the same words whether the host is
// internal or does not resolve. (The local run
// allows the loopback, where the tests' receivers listen.)
func TestCallbackURLsThatAreNotPublicAreRefused(t *testing.T) {
	c := newClient(t)
	phone := uniquePhone(0)
	c.signUp(uniqueName("ssrf"), phone)
	var words []string
	for _, u := range []string{
		"http://198.18.0.1/", "http://240.0.0.1/", "http://255.255.255.255/", "http://[64:ff9b::a9fe:a9fe]/",
		"http://[2002:a9fe:a9fe::]/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[fd00::1]/",
		"http://192.0.2.1/", "http://100.64.0.1/", "http://no-such-host.invalid/hook",
	} {
		r := c.do("POST", "/voucher", map[string]string{"phoneNumber": phone, "callbackUrl": u}, nil)
		assert.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", u, r.Body)
		var p struct{ Detail string }
		r.json(t, &p)
		words = append(words, p.Detail)
	}
	for i, w := range words {
		assert.Equal(t, words[0], w, "answer %d differs from the first: an oracle", i)
	}
}

// TestTheInternalAPIWithoutMTLSTakesAnyCaller measures what
// docs/security.md says of a local run: daprd's internal gRPC API (sidecar
// to sidecar) takes a call with no token and no certificate, adds the
// app's token, and passes the caller the request names. A process on the
// host that calls voucher's daprd there as "gateway" reads a number's
// vouchers; named as another app it is refused by voucher's own check.
// Only mTLS (Kubernetes, Sentry) closes this; if a daprd ever refuses
// the call, this test fails and the document must be changed with it.
func TestTheInternalAPIWithoutMTLSTakesAnyCaller(t *testing.T) {
	conn, err := grpc.NewClient(sys.InternalAddr("voucher"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ask := func(caller string) int32 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := internalv1pb.NewServiceInvocationClient(conn).CallLocal(ctx, &internalv1pb.InternalInvokeRequest{
			Ver: internalv1pb.APIVersion_V1,
			Message: &commonv1pb.InvokeRequest{Method: "vouchers", HttpExtension: &commonv1pb.HTTPExtension{
				Verb: commonv1pb.HTTPExtension_GET, Querystring: "phoneNumber=" + url.QueryEscape(uniquePhone(0))}},
			Metadata: map[string]*internalv1pb.ListStringValue{"dapr-caller-app-id": {Values: []string{caller}}},
		})
		require.NoError(t, err, "voucher's daprd refused a plain gRPC call on its internal API: docs/security.md says it takes it")
		return res.GetStatus().GetCode()
	}
	assert.Equal(t, int32(http.StatusOK), ask("gateway"), "named gateway, with no token and no certificate")
	assert.Equal(t, int32(http.StatusForbidden), ask("sms"), "named sms: voucher's own caller check")
}
