package main

import (
	"bufio"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// workCounts is what the system did over a phase besides answering calls,
// summed over every instance of each app: events its sidecar delivered to
// it, by topic (daprd's pubsub ingress: a purchase that took one of a
// topic twice was redelivered or published twice, and the consumer
// absorbed it), and the passes of its scheduled sweeps by outcome, with
// the items they looked at (the app's vouchers_sweep_* metrics). With
// replicas it tells how often each sweep ran per second across them, and
// how much work was done twice.
type workCounts map[string]float64

var (
	ingress     = regexp.MustCompile(`^dapr_component_pubsub_ingress_count\{.*\} ([0-9.e+]+)$`)
	topicLabel  = regexp.MustCompile(`topic="([^"]+)"`)
	statusLabel = regexp.MustCompile(`process_status="([^"]+)"`)
	sweepPasses = regexp.MustCompile(`^vouchers_sweep_passes_total\{outcome="([^"]+)",sweep="([^"]+)"\} ([0-9.e+]+)$`)
	sweepItems  = regexp.MustCompile(`^vouchers_sweep_items_total\{sweep="([^"]+)"\} ([0-9.e+]+)$`)
)

func (s *system) work() workCounts {
	w := workCounts{}
	for _, id := range s.sys.AppIDs() {
		for _, inst := range s.sys.Instances(id) {
			scan(s.sys.MetricsURL(inst), func(line string) {
				if m := ingress.FindStringSubmatch(line); m != nil {
					t, st := topicLabel.FindStringSubmatch(line), statusLabel.FindStringSubmatch(line)
					if t != nil && st != nil && (st[1] == "success" || st[1] == "drop") {
						v, _ := strconv.ParseFloat(m[1], 64)
						w[id+" takes "+t[1]] += v
					}
				}
			})
			scan(s.sys.AppURL(inst)+"/metrics", func(line string) {
				if m := sweepPasses.FindStringSubmatch(line); m != nil {
					v, _ := strconv.ParseFloat(m[3], 64)
					w[id+" "+m[2]+" passes "+m[1]] += v
				} else if m := sweepItems.FindStringSubmatch(line); m != nil {
					v, _ := strconv.ParseFloat(m[2], 64)
					w[id+" "+m[1]+" items"] += v
				}
			})
		}
	}
	return w
}

func scan(url string, fn func(line string)) {
	resp, err := http.Get(url)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fn(sc.Text())
	}
}

// since is w less before.
func (w workCounts) since(before workCounts) workCounts {
	out := workCounts{}
	for k, v := range w {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// Work is the work counted over the end-to-end phase, and how long it was.
type Work struct {
	Seconds float64            `json:"seconds"`
	Counts  map[string]float64 `json:"counts"`
}

// EndToEndWorkTable is the table of events taken per purchase and sweep passes
// per second.
func (r *Result) EndToEndWorkTable() string {
	if r.EndToEndWork == nil || r.EndToEnd.Completed == 0 || r.EndToEndWork.Seconds == 0 {
		return ""
	}
	n, secs := float64(r.EndToEnd.Completed), r.EndToEndWork.Seconds
	var keys []string
	for k := range r.EndToEndWork.Counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "\n| work (end to end, %.0f s, %d gateway instance(s)) | total | per purchase | per second |\n|---|---|---|---|\n", secs, r.Gateways)
	for _, k := range keys {
		v := r.EndToEndWork.Counts[k]
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f |\n", k, v, v/n, v/secs)
	}
	return b.String()
}

// measureWork runs f and counts the work the system did meanwhile.
func (s *system) measureWork(f func() error) (*Work, error) {
	before, start := s.work(), time.Now()
	err := f()
	return &Work{Seconds: time.Since(start).Seconds(), Counts: s.work().since(before)}, err
}
