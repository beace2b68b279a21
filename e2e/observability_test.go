package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logLine is one JSON line of an app in the system log.
type logLine struct {
	App       string
	Msg       string `json:"msg"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Status    any    `json:"status"` // a number in request lines, a purchase's status in others
	RequestID string `json:"request_id"`
	TraceID   string `json:"trace_id"`
	Purchase  string `json:"purchase_id"`
	Via       string `json:"via"`
}

// appLogs reads every app's JSON lines from the system log, where each
// line is prefixed with "<app id> | " (sidecars' lines are not JSON of
// ours and are skipped).
func appLogs(t *testing.T) []logLine {
	t.Helper()
	f, err := os.Open(filepath.Join(dataDir, "system.log"))
	require.NoError(t, err)
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		prefix, rest, ok := strings.Cut(sc.Text(), " | ")
		if !ok || !strings.HasPrefix(rest, "{") {
			continue
		}
		var l logLine
		if json.Unmarshal([]byte(rest), &l) != nil {
			continue
		}
		// The app, whichever instance wrote the line ("gateway#2").
		l.App, _, _ = strings.Cut(strings.TrimSpace(prefix), "#")
		out = append(out, l)
	}
	return out
}

// waitLog waits for a line of app that match accepts.
func waitLog(t *testing.T, what string, match func(logLine) bool) logLine {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		for _, l := range appLogs(t) {
			if match(l) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var traceID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestObservabilityOnePurchaseIsOneTrace follows one purchase by the
// trace id of gateway's log line for POST /voucher: through both outbox
// hops (gateway → request-code → voucher-int, voucher-int → receive-code →
// voucher and gateway), with daprd's tracing off as it is locally. The
// trace is gateway's own, not one the customer sent.
func TestObservabilityOnePurchaseIsOneTrace(t *testing.T) {
	c := newClient(t)
	phone := uniquePhone(0)
	c.signUp(uniqueName("trace"), phone)
	const reqID = "e2e-observability-1"
	// A customer's traceparent (sampled, too) is not continued: gateway
	// starts the purchase's trace itself.
	const forged = "0af7651916cd43dd8448eb211c80319c"
	r := c.do("POST", "/voucher", map[string]string{"phoneNumber": phone},
		map[string]string{"X-Request-Id": reqID, "traceparent": "00-" + forged + "-b7ad6b7169203331-01"})
	require.Equal(t, http.StatusAccepted, r.Status, "purchase: %s", r.Body)
	assert.Equal(t, reqID, r.Header.Get("X-Request-Id"), "X-Request-Id echoed")
	v := c.waitFinal(r.Header.Get("Location"))
	require.Equal(t, "SUCCESS", v.Status, "purchase ended %+v", v)

	accepted := waitLog(t, "gateway's POST /voucher line with our request id", func(l logLine) bool {
		return l.App == "gateway" && l.Msg == "http" && l.Method == "POST" && l.Path == "/voucher" && l.RequestID == reqID
	})
	require.Equal(t, float64(http.StatusAccepted), accepted.Status, "gateway's line %+v: want status 202 and a trace id", accepted)
	require.Regexp(t, traceID, accepted.TraceID, "gateway's line %+v: want status 202 and a trace id", accepted)
	trace := accepted.TraceID
	require.NotEqual(t, forged, trace, "gateway continued the customer's traceparent")
	for _, hop := range []struct{ app, msg string }{
		{"gateway", "purchase accepted"},         // the same request
		{"voucher-int", "voucher code recorded"}, // after the request-code outbox hop
		{"voucher", "voucher stored"},            // after the receive-code outbox hop
		{"gateway", "purchase finished"},         // receive-code, back at gateway
	} {
		l := waitLog(t, hop.app+" "+hop.msg+" of "+v.RequestID, func(l logLine) bool {
			return l.App == hop.app && l.Msg == hop.msg && l.Purchase == v.RequestID
		})
		assert.Equal(t, trace, l.TraceID, "%s %q carries another trace than gateway's POST /voucher", hop.app, hop.msg)
	}
	// The event deliveries' own request lines carry it too.
	for _, app := range []string{"voucher-int", "voucher"} {
		waitLog(t, app+"'s event delivery in trace "+trace, func(l logLine) bool {
			return l.App == app && l.Msg == "http" && strings.HasPrefix(l.Path, "/events/") && l.TraceID == trace
		})
	}
}

// TestObservabilityLateCodeStaysInThePurchasesTrace: the provider's late
// callback comes with no trace of its own; voucher-int answers it, and
// publishes the code, in the trace of the purchase (kept on the order).
func TestObservabilityLateCodeStaysInThePurchasesTrace(t *testing.T) {
	c := newClient(t)
	phone := uniquePhone(5) // late: acknowledged, then a callback
	c.signUp(uniqueName("late-trace"), phone)
	const reqID = "e2e-observability-late"
	r := c.do("POST", "/voucher", map[string]string{"phoneNumber": phone}, map[string]string{"X-Request-Id": reqID})
	require.Equal(t, http.StatusAccepted, r.Status, "purchase: %s", r.Body)
	v := c.waitFinal(r.Header.Get("Location"))
	require.Equal(t, "SUCCESS", v.Status, "purchase ended %+v", v)
	trace := waitLog(t, "gateway's POST /voucher line", func(l logLine) bool {
		return l.App == "gateway" && l.Msg == "http" && l.Path == "/voucher" && l.RequestID == reqID
	}).TraceID
	recorded := waitLog(t, "voucher-int's voucher code recorded", func(l logLine) bool {
		return l.App == "voucher-int" && l.Msg == "voucher code recorded" && l.Purchase == v.RequestID
	})
	require.Equal(t, "callback", recorded.Via, "how the code was recorded")
	require.Equal(t, trace, recorded.TraceID, "the trace the code was recorded in")
	callback := waitLog(t, "the callback's request line", func(l logLine) bool {
		return l.App == "voucher-int" && l.Msg == "http" && l.RequestID == recorded.RequestID
	})
	assert.Equal(t, "/api/voucher-code/vps/response", callback.Path, "callback line %+v", callback)
	assert.Equal(t, trace, callback.TraceID, "callback line %+v, want the purchase's trace", callback)
	waitLog(t, "gateway's purchase finished in the purchase's trace", func(l logLine) bool {
		return l.App == "gateway" && l.Msg == "purchase finished" && l.Purchase == v.RequestID && l.TraceID == trace
	})
}

func TestObservabilityEveryAppIsReady(t *testing.T) {
	for _, app := range []string{"gateway", "voucher-int", "voucher", "sms", "voucher-provider"} {
		resp, err := http.Get(sys.AppURL(app) + "/readyz")
		require.NoError(t, err, app)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ready struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s /readyz: %s", app, b)
		assert.NoError(t, json.Unmarshal(b, &ready), "%s /readyz: %s", app, b)
		assert.Equal(t, "ready", ready.Status, "%s /readyz: %s", app, b)
		assert.Equal(t, "ok", ready.Checks["sidecar"], "%s /readyz: %s", app, b)
	}
}

// TestObservabilityMetricsMoveWithPurchases buys once by SMS and once by webhook, and
// reads each app's /metrics.
func TestObservabilityMetricsMoveWithPurchases(t *testing.T) {
	// What this test's own sign-up and two purchases must add to each
	// series, at least: read before and after, so other tests' traffic
	// cannot make it pass.
	want := map[string][]struct {
		series
		min float64
	}{
		"gateway": {
			{series{"vouchers_purchases_accepted_total", nil}, 2},
			{series{"vouchers_purchases_total", map[string]string{"status": "SUCCESS"}}, 2},
			{series{"vouchers_webhook_attempts_total", map[string]string{"outcome": "delivered"}}, 1},
			{series{"vouchers_http_requests_total", map[string]string{"route": "POST /voucher", "method": "POST", "status": "202"}}, 2},
			{series{"vouchers_http_request_duration_seconds_count", map[string]string{"route": "POST /voucher"}}, 2},
			{series{"vouchers_http_requests_total", map[string]string{"route": "POST /events/receive-code", "status": "200"}}, 2},
		},
		"voucher-int": {
			{series{"vouchers_provider_request_duration_seconds_count", map[string]string{"operation": "order", "outcome": "code"}}, 2},
			{series{"vouchers_http_requests_total", map[string]string{"route": "POST /events/request-code", "status": "200"}}, 2},
		},
		"voucher": {
			{series{"vouchers_http_requests_total", map[string]string{"route": "POST /events/receive-code", "status": "200"}}, 2},
			{series{"vouchers_http_requests_total", map[string]string{"route": "GET /vouchers/{requestId}", "status": "200"}}, 2},
		},
		"sms": {
			{series{"vouchers_sms_sent_total", map[string]string{"kind": "voucher"}}, 1},
			{series{"vouchers_sms_sent_total", map[string]string{"kind": "phone_code"}}, 1},
		},
	}
	before := map[string]string{}
	for app := range want {
		before[app] = scrape(t, app)
	}
	c := newClient(t)
	phone := uniquePhone(1)
	c.signUp(uniqueName("metrics"), phone)
	bySMS := c.buy(phone, "")
	hook := newReceiver(t, c.webhookSecret(), false)
	byHook := c.buy(phone, hook.url)
	for _, loc := range []string{bySMS, byHook} {
		d := c.waitDelivered(loc)
		require.Equal(t, "SUCCESS", d.Status, "purchase %+v", d)
	}
	// The last counts (the SMS sent) may move a moment after the delivery
	// shows: poll, with a generous bound.
	deadline := time.Now().Add(time.Minute)
	for app, all := range want {
		for _, s := range all {
			for {
				body := scrape(t, app)
				moved := s.value(body) - s.value(before[app])
				if moved >= s.min {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%s: %s%v moved by %v, want at least %v", app, s.name, s.labels, moved, s.min)
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		if strings.Contains(scrape(t, app), `route="/voucher/requests/`) {
			t.Errorf("%s: a raw path became a route label", app)
		}
	}
}

// scrape reads the app's /metrics, of every instance: series.value sums
// the samples of them all.
func scrape(t *testing.T, app string) string {
	t.Helper()
	var all strings.Builder
	for _, inst := range sys.Instances(app) {
		resp, err := http.Get(sys.AppURL(inst) + "/metrics")
		require.NoError(t, err, inst)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s /metrics", inst)
		all.Write(b)
		all.WriteString("\n")
	}
	return all.String()
}

// series names a metric and some of its labels.
type series struct {
	name   string
	labels map[string]string
}

var labelPair = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// value sums the samples of the Prometheus text body that have s's name
// and labels.
func (s series) value(body string) float64 {
	var sum float64
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, s.name+"{") && !strings.HasPrefix(line, s.name+" ") {
			continue
		}
		i := strings.LastIndex(line, " ")
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		got := map[string]string{}
		for _, m := range labelPair.FindAllStringSubmatch(line[:i], -1) {
			got[m[1]] = m[2]
		}
		ok := true
		for k, want := range s.labels {
			ok = ok && got[k] == want
		}
		if ok {
			sum += v
		}
	}
	return sum
}
