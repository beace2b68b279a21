package main

import (
	"bufio"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// sidecarCalls counts, per app, the calls its daprd's API answered (gRPC
// by method, HTTP as one count: service invocation and the bare publish),
// from daprd's own metrics. Unlike CPU, a count does not depend on how
// fast or busy the machine is: it says what one purchase costs the
// sidecars, the largest share of the system's CPU (docs/performance.md).
type callCounts map[string]map[string]float64

var (
	grpcCalls = regexp.MustCompile(`^dapr_grpc_io_server_completed_rpcs\{.*grpc_server_method="[^"]*/([^"/]+)".*\} ([0-9.e+]+)$`)
	httpCalls = regexp.MustCompile(`^dapr_http_server_request_count\{.*\} ([0-9.e+]+)$`)
)

func (s *system) sidecarCalls() callCounts {
	out := callCounts{}
	for _, id := range s.sys.AppIDs() {
		m := map[string]float64{}
		for _, inst := range s.sys.Instances(id) { // summed over instances
			s.readCalls(inst, m)
		}
		out[id] = m
	}
	return out
}

// readCalls adds one sidecar's API calls to m.
func (s *system) readCalls(inst string, m map[string]float64) {
	{
		resp, err := http.Get(s.sys.MetricsURL(inst))
		if err != nil {
			return
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if g := grpcCalls.FindStringSubmatch(line); g != nil {
				v, _ := strconv.ParseFloat(g[2], 64)
				m[g[1]] += v
			} else if h := httpCalls.FindStringSubmatch(line); h != nil {
				v, _ := strconv.ParseFloat(h[1], 64)
				m["HTTP API"] += v
			}
		}
		_ = resp.Body.Close()
	}
}

// since is c less before, per app and method.
func (c callCounts) since(before callCounts) []AppCalls {
	var out []AppCalls
	for app, m := range c {
		a := AppCalls{App: app, Methods: map[string]float64{}}
		for method, v := range m {
			if d := v - before[app][method]; d > 0 {
				a.Methods[method] = d
				a.Total += d
			}
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Total > out[j].Total })
	return out
}

// AppCalls is the calls one app's sidecar answered over a phase.
type AppCalls struct {
	App     string             `json:"app"`
	Total   float64            `json:"total"`
	Methods map[string]float64 `json:"methods"`
}

// EndToEndCalls is the table of sidecar calls per purchase.
func (r *Result) EndToEndCalls() string {
	if len(r.EndToEndSidecarCalls) == 0 || r.EndToEnd.Completed == 0 {
		return ""
	}
	n := float64(r.EndToEnd.Completed)
	var b strings.Builder
	fmt.Fprintf(&b, "\n| sidecar (end to end) | API calls per purchase | by method |\n|---|---|---|\n")
	total := 0.0
	for _, a := range r.EndToEndSidecarCalls {
		total += a.Total
		var ms []string
		for m := range a.Methods {
			ms = append(ms, m)
		}
		sort.Slice(ms, func(i, j int) bool { return a.Methods[ms[i]] > a.Methods[ms[j]] })
		var parts []string
		for _, m := range ms {
			if v := a.Methods[m] / n; v >= 0.05 {
				parts = append(parts, fmt.Sprintf("%s %.2f", m, v))
			}
		}
		fmt.Fprintf(&b, "| %s | %.1f | %s |\n", a.App, a.Total/n, strings.Join(parts, ", "))
	}
	fmt.Fprintf(&b, "| all | %.1f | |\n", total/n)
	return b.String()
}
