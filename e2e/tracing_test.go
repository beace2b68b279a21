//go:build !faults

package e2e

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// ourScope is the instrumentation scope of the apps' spans (kit/tracing);
// daprd's spans come under its own.
const ourScope = "github.com/bankabc/vouchers/kit/tracing"

// span is what the test reads of one exported span.
type span struct {
	service, scope, name string
	trace, id, parent    string
}

func (s span) String() string {
	who := s.service
	if s.scope != ourScope {
		who += "'s daprd"
	}
	return fmt.Sprintf("%s: %q %s (parent %s)", who, s.name, s.id, s.parent)
}

// collector is an OTLP/HTTP receiver of traces, as a real collector would
// be: daprd and the apps export to it.
type collector struct {
	mu    sync.Mutex
	spans []span
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	var req collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, span{service: service, scope: ss.GetScope().GetName(), name: s.GetName(),
					trace: hex.EncodeToString(s.GetTraceId()), id: hex.EncodeToString(s.GetSpanId()),
					parent: hex.EncodeToString(s.GetParentSpanId())})
			}
		}
	}
	c.mu.Unlock()
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// of returns the spans of trace, or of every trace when trace is "".
func (c *collector) of(trace string) []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []span
	for _, s := range c.spans {
		if trace == "" || s.trace == trace {
			out = append(out, s)
		}
	}
	return out
}

// TestTracingOnePurchaseIsOneTreeOfSpans runs a system of its own, with
// daprd's tracing on and the apps exporting too, both to a collector in
// the test. One purchase with a webhook must make one trace whose spans,
// the apps' and their sidecars', form one tree from gateway's POST
// /voucher to the webhook's delivery.
func TestTracingOnePurchaseIsOneTreeOfSpans(t *testing.T) {
	col := &collector{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: col}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	dir, err := os.MkdirTemp("", "vouchers-e2e-tracing-")
	require.NoError(t, err)
	env := maps.Clone(scaled)
	env["TRACING_SAMPLING_RATE"] = "1"
	env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://" + ln.Addr().String()
	env["OTEL_BSP_SCHEDULE_DELAY"] = "200" // ms: spans reach the test sooner
	vars := map[string]string{
		"TRACING_SAMPLING_RATE": "1",
		"TRACING_OTLP_ENDPOINT": ln.Addr().String(),
		"TRACING_OTLP_PROTOCOL": "http",
	}
	logPath := filepath.Join(dir, "system.log")
	s, release, err := startSystem(dir, logPath, env, vars)
	if err != nil {
		printTail(logPath, 80)
	}
	require.NoError(t, err, "start the traced system")
	defer func() {
		s.Stop()
		if err := release(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			printTail(logPath, 100)
			t.Log("system log kept at", logPath)
		} else {
			_ = os.RemoveAll(dir)
		}
	}()

	c := &client{t: t, base: s.PublicURL("gateway"), dataDir: dir}
	phone := uniquePhone(0) // the provider answers at once
	c.signUp(uniqueName("traced"), phone)
	hook := newReceiver(t, c.webhookSecret(), false)
	loc := c.buy(phone, hook.url)
	c.waitDelivered(loc)

	// Spans leave each process in batches: wait until the trace holds
	// every span the test looks for, and every span's parent.
	want := []struct{ service, name string }{
		{"gateway", "POST /voucher"},
		{"gateway", "accept purchase"},
		{"voucher-int", "open order"},
		{"voucher-int", "call provider"},
		{"gateway", "deliver webhook"},
	}
	var trace string
	var spans []span
	var missing []string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if trace == "" {
			for _, sp := range col.of("") {
				if sp.service == "gateway" && sp.scope == ourScope && sp.name == "POST /voucher" {
					trace = sp.trace
				}
			}
		}
		if trace != "" {
			spans = col.of(trace)
			missing = missingFrom(spans, want)
		}
		if trace != "" && len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %q after 2 minutes: missing %v; spans:\n%s", trace, missing, tree(spans))
		}
		time.Sleep(200 * time.Millisecond)
	}

	services := map[string]bool{}
	daprd := 0
	for _, sp := range spans {
		if sp.scope == ourScope {
			services[sp.service] = true
		} else {
			daprd++
		}
	}
	require.Positive(t, daprd, "no span of daprd's in the trace:\n%s", tree(spans))
	for _, app := range []string{"gateway", "voucher-int", "voucher-provider"} {
		require.True(t, services[app], "no span of %s's own in the trace:\n%s", app, tree(spans))
	}
	var roots []span
	for _, sp := range spans {
		if sp.parent == "" {
			roots = append(roots, sp)
		}
	}
	require.Len(t, roots, 1, "want one root, gateway's POST /voucher:\n%s", tree(spans))
	require.Equal(t, "POST /voucher", roots[0].name, "the root:\n%s", tree(spans))
	require.Equal(t, "gateway", roots[0].service, "the root:\n%s", tree(spans))
	t.Logf("%d spans in one tree:\n%s", len(spans), tree(spans))
}

// missingFrom lists what of want is not yet in spans: a wanted span of an
// app's own, or the parent of any span.
func missingFrom(spans []span, want []struct{ service, name string }) []string {
	var missing []string
	ids := map[string]bool{}
	for _, sp := range spans {
		ids[sp.id] = true
	}
	for _, w := range want {
		if !slices.ContainsFunc(spans, func(sp span) bool {
			return sp.scope == ourScope && sp.service == w.service && sp.name == w.name
		}) {
			missing = append(missing, w.service+" "+w.name)
		}
	}
	for _, sp := range spans {
		if sp.parent != "" && !ids[sp.parent] {
			missing = append(missing, "the parent of "+sp.String())
		}
	}
	return missing
}

// tree renders spans indented under their parents, orphans at the top.
func tree(spans []span) string {
	children := map[string][]span{}
	ids := map[string]bool{}
	for _, sp := range spans {
		ids[sp.id] = true
	}
	var tops []span
	for _, sp := range spans {
		if sp.parent == "" || !ids[sp.parent] {
			tops = append(tops, sp)
		} else {
			children[sp.parent] = append(children[sp.parent], sp)
		}
	}
	var b strings.Builder
	var walk func(sp span, depth int)
	walk = func(sp span, depth int) {
		fmt.Fprintf(&b, "%s%s\n", strings.Repeat("  ", depth), sp)
		for _, ch := range children[sp.id] {
			walk(ch, depth+1)
		}
	}
	for _, sp := range tops {
		walk(sp, 0)
	}
	return b.String()
}
