package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Result is one make bench run, as written to bench/results/.
type Result struct {
	Date        string  `json:"date"`
	Profile     string  `json:"profile"`
	Machine     string  `json:"machine"`
	StepSeconds float64 `json:"stepSeconds"`

	Accept      []Stats `json:"accept"`
	BarePublish []Stats `json:"barePublish"`
	EndToEnd    E2E     `json:"endToEnd"`
	Burst       *E2E    `json:"burst,omitempty"`
	// BesideHanging: other customers' purchases, from request to webhook,
	// while one customer's webhooks hang (docs/reliability.md).
	BesideHanging *Hanging  `json:"besideHanging,omitempty"`
	SignInFlood   *Flood    `json:"signInFlood,omitempty"`
	InMemory      InMemory  `json:"inMemoryAcceptHandler"`
	Processes     []Process `json:"processesDuringAccept"`
	// EndToEndProcesses: CPU and memory per process over the end-to-end
	// phase (the purchases carried to their end, and the wait for them).
	EndToEndProcesses []Process `json:"processesDuringEndToEnd"`
	// EndToEndSidecarCalls: the calls each sidecar's API answered over the
	// end-to-end phase (daprd's metrics).
	EndToEndSidecarCalls []AppCalls `json:"sidecarCallsDuringEndToEnd,omitempty"`
	// EndToEndWork: events taken and sweep passes over the end-to-end
	// phase, summed over instances (work.go); Gateways is how many
	// instances of gateway ran (bench -gateways).
	EndToEndWork   *Work     `json:"workDuringEndToEnd,omitempty"`
	Gateways       int       `json:"gateways,omitempty"`
	BareProcesses  []Process `json:"processesDuringBarePublish"`
	AcceptRequests int       `json:"acceptRequests"`
	BareRequests   int       `json:"barePublishRequests"`

	// GatewayProfile is the top of gateway's CPU profile during the accept
	// run at profileRate (go tool pprof -top).
	GatewayProfile []string `json:"gatewayProfileTop,omitempty"`

	Summary Summary `json:"summary"`
}

// Stats is one offered rate: what was sent, what came back, how fast.
type Stats struct {
	Offered    int     `json:"offeredPerSecond"`
	Sent       int     `json:"sent"`
	Errors     int     `json:"errors"`
	Achieved   float64 `json:"achievedPerSecond"`
	P50        float64 `json:"p50Ms"`
	P95        float64 `json:"p95Ms"`
	P99        float64 `json:"p99Ms"`
	Max        float64 `json:"maxMs"`
	FirstError string  `json:"firstError,omitempty"`
	// CPU of gateway, its sidecar and the broker and store (the bench
	// process on embedded, the shared servers otherwise) over the run, per
	// request sent.
	GatewayCPUMsPerRequest float64 `json:"gatewayPathCpuMsPerRequest"`
}

func (s Stats) String() string {
	return fmt.Sprintf("offered %d/s, achieved %.0f/s, errors %d, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms %s",
		s.Offered, s.Achieved, s.Errors, s.P50, s.P95, s.P99, s.Max, s.FirstError)
}

// E2E is the end-to-end phase: request sent to webhook received.
type E2E struct {
	Offered       int     `json:"offeredPerSecond"`
	Sent          int     `json:"sent"`
	Errors        int     `json:"errors"`
	Completed     int     `json:"completed"`
	WaitedSeconds float64 `json:"waitedSeconds"`
	Latency       Stats   `json:"latency"`
	// WarmupSeconds: purchases were offered at the same rate this long
	// before the phase, and not counted (0: a cold start).
	WarmupSeconds float64 `json:"warmupSeconds,omitempty"`
}

func (e E2E) String() string {
	warm := ""
	if e.WarmupSeconds > 0 {
		warm = fmt.Sprintf(" (after a %g s warm-up)", e.WarmupSeconds)
	}
	return fmt.Sprintf("End to end (request to webhook received) at %d/s%s: %d sent, %d errors, %d completed in %.0f s; p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms.",
		e.Offered, warm, e.Sent, e.Errors, e.Completed, e.WaitedSeconds, e.Latency.P50, e.Latency.P95, e.Latency.P99, e.Latency.Max)
}

// Hanging is the phase beside one customer's hanging webhooks.
type Hanging struct {
	// Hanging: that customer's webhooks whose receiver never answers.
	Hanging int `json:"hanging"`
	// Others: the other customers' purchases, timed to their webhook.
	Others E2E `json:"others"`
}

func (h Hanging) String() string {
	e := h.Others
	return fmt.Sprintf("Beside %d hanging webhooks of one customer: %d purchases of others at %d/s, %d errors, %d completed; request to webhook p50 %.0f ms, p99 %.0f ms, max %.0f ms.",
		h.Hanging, e.Sent, e.Offered, e.Errors, e.Completed, e.Latency.P50, e.Latency.P99, e.Latency.Max)
}

// BurstString reads a burst's figures: latency counts from the burst's start.
func (e E2E) BurstString() string {
	return fmt.Sprintf("Burst of %d purchases at once: %d refused, %d completed; all in %.1f s (p50 %.0f ms, p99 %.0f ms, last %.0f ms after the burst began).",
		e.Sent, e.Errors, e.Completed, e.Latency.Max/1000, e.Latency.P50, e.Latency.P99, e.Latency.Max)
}

// EndToEndCPU reads the end-to-end phase's CPU per process, in ms per
// purchase completed: where the machine's two cores go.
func (r *Result) EndToEndCPU() string {
	if len(r.EndToEndProcesses) == 0 || r.EndToEnd.Completed == 0 {
		return ""
	}
	var b strings.Builder
	ps := append([]Process(nil), r.EndToEndProcesses...)
	sort.Slice(ps, func(i, j int) bool { return ps[i].CPUSeconds > ps[j].CPUSeconds })
	total := 0.0
	fmt.Fprintf(&b, "\n| process (end to end) | CPU s | ms per purchase | peak RSS MiB |\n|---|---|---|---|\n")
	for _, p := range ps {
		total += p.CPUSeconds
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %.1f |\n", p.Name, p.CPUSeconds, 1000*p.CPUSeconds/float64(r.EndToEnd.Completed), p.PeakRSSMiB)
	}
	fmt.Fprintf(&b, "| all | %.2f | %.2f | |\n", total, 1000*total/float64(r.EndToEnd.Completed))
	return b.String()
}

// InMemory is the gateway's accept handler with in-memory state.
type InMemory struct {
	MicrosPerRequest float64 `json:"microsPerRequest"`
	BytesPerRequest  int     `json:"bytesPerRequest"`
	AllocsPerRequest int     `json:"allocsPerRequest"`
}

// Process is one process's CPU and peak memory over a phase.
type Process struct {
	Name       string  `json:"name"`
	CPUSeconds float64 `json:"cpuSeconds"`
	PeakRSSMiB float64 `json:"peakRssMiB"`
}

// Summary holds the figures the targets speak of.
type Summary struct {
	HighestRateP99Under50ms   int     `json:"highestRateP99Under50ms"`
	EndToEndP99Ms             float64 `json:"endToEndP99Ms"`
	EndToEndCompleted         string  `json:"endToEndCompleted"`
	CostComparedAt            int     `json:"costComparedAtPerSecond"`
	CPUMsPerAccept            float64 `json:"pathCpuMsPerAccept"`
	CPUMsPerBarePublish       float64 `json:"pathCpuMsPerBarePublish"`
	CPURatioToBarePublish     float64 `json:"cpuRatioToBarePublish"`
	P50RatioToBarePublish     float64 `json:"p50RatioToBarePublishAtLowestRate"`
	P50RatioToInMemoryHandler float64 `json:"p50RatioToInMemoryHandlerAtLowestRate"`
}

func statsOf(lat []time.Duration) Stats {
	if len(lat) == 0 {
		return Stats{}
	}
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return ms(s[max(i, 0)])
	}
	return Stats{P50: q(0.50), P95: q(0.95), P99: q(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 2) }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func (r *Result) summarize() {
	for _, st := range r.Accept {
		if st.Errors == 0 && st.P99 <= 50 && st.Achieved >= 0.95*float64(st.Offered) && st.Offered > r.Summary.HighestRateP99Under50ms {
			r.Summary.HighestRateP99Under50ms = st.Offered
		}
	}
	r.Summary.EndToEndP99Ms = r.EndToEnd.Latency.P99
	r.Summary.EndToEndCompleted = fmt.Sprintf("%d of %d", r.EndToEnd.Completed, r.EndToEnd.Sent)
	// Cost is compared at the highest rate both held (no errors, at least
	// 95 % of the offered rate achieved): at
	// low rates the second-by-second work (cron sweeps, health checks)
	// weighs on each request.
	held := func(st Stats) bool { return st.Errors == 0 && st.Achieved >= 0.95*float64(st.Offered) }
	for i, a := range r.Accept {
		if i < len(r.BarePublish) && held(a) && held(r.BarePublish[i]) {
			r.Summary.CostComparedAt = a.Offered
			r.Summary.CPUMsPerAccept = a.GatewayCPUMsPerRequest
			r.Summary.CPUMsPerBarePublish = r.BarePublish[i].GatewayCPUMsPerRequest
		}
	}
	if r.Summary.CPUMsPerBarePublish > 0 {
		r.Summary.CPURatioToBarePublish = round(r.Summary.CPUMsPerAccept/r.Summary.CPUMsPerBarePublish, 2)
	}
	if len(r.Accept) > 0 && len(r.BarePublish) > 0 && r.BarePublish[0].P50 > 0 {
		r.Summary.P50RatioToBarePublish = round(r.Accept[0].P50/r.BarePublish[0].P50, 2)
	}
	if len(r.Accept) > 0 && r.InMemory.MicrosPerRequest > 0 {
		r.Summary.P50RatioToInMemoryHandler = round(r.Accept[0].P50*1000/r.InMemory.MicrosPerRequest, 1)
	}
}

// Table is the run's summary in Markdown, as docs/performance.md shows it.
func (r *Result) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Profile %s, %s, %s, %.0f s per rate.\n\n", r.Profile, r.Machine, r.Date, r.StepSeconds)
	fmt.Fprintf(&b, "| offered/s | accept: achieved/s | errors | p50 ms | p95 ms | p99 ms | CPU ms/req | bare publish: achieved/s | errors | p50 ms | p95 ms | p99 ms | CPU ms/req |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, a := range r.Accept {
		var p Stats
		if i < len(r.BarePublish) {
			p = r.BarePublish[i]
		}
		fmt.Fprintf(&b, "| %d | %.0f | %d | %.1f | %.1f | %.1f | %.2f | %.0f | %d | %.1f | %.1f | %.1f | %.2f |\n",
			a.Offered, a.Achieved, a.Errors, a.P50, a.P95, a.P99, a.GatewayCPUMsPerRequest, p.Achieved, p.Errors, p.P50, p.P95, p.P99, p.GatewayCPUMsPerRequest)
	}
	fmt.Fprintf(&b, "\n%s\n", r.EndToEnd)
	if r.Burst != nil {
		fmt.Fprintf(&b, "\n%s\n", r.Burst.BurstString())
	}
	if r.BesideHanging != nil {
		fmt.Fprintf(&b, "\n%s\n", r.BesideHanging)
	}
	b.WriteString(r.EndToEndCPU())
	b.WriteString(r.EndToEndCalls())
	b.WriteString(r.EndToEndWorkTable())
	if r.SignInFlood != nil {
		fmt.Fprintf(&b, "\n%s\n", r.SignInFlood)
	}
	fmt.Fprintf(&b, "\n| process | CPU s (accept runs) | peak RSS MiB | CPU s (bare publish runs) |\n|---|---|---|---|\n")
	bare := map[string]float64{}
	for _, p := range r.BareProcesses {
		bare[p.Name] = p.CPUSeconds
	}
	for _, p := range r.Processes {
		fmt.Fprintf(&b, "| %s | %.2f | %.1f | %.2f |\n", p.Name, p.CPUSeconds, p.PeakRSSMiB, bare[p.Name])
	}
	s := r.Summary
	fmt.Fprintf(&b, "\nHighest offered rate with p99 <= 50 ms and no errors: %d/s.\n", s.HighestRateP99Under50ms)
	fmt.Fprintf(&b, "At %d/s, the highest rate both held, CPU on the request's path per purchase: %.3f ms; per bare publish: %.3f ms; ratio %.2f.\n", s.CostComparedAt, s.CPUMsPerAccept, s.CPUMsPerBarePublish, s.CPURatioToBarePublish)
	fmt.Fprintf(&b, "At the lowest rate, accept p50 is %.2fx the bare publish's and %.1fx the in-memory handler's (%.1f us, %d allocs).\n",
		s.P50RatioToBarePublish, s.P50RatioToInMemoryHandler, r.InMemory.MicrosPerRequest, r.InMemory.AllocsPerRequest)
	if len(r.GatewayProfile) > 0 {
		fmt.Fprintf(&b, "\ngateway's CPU profile at %d/s (top):\n\n```\n%s\n```\n", profileRate, strings.Join(r.GatewayProfile, "\n"))
	}
	return b.String()
}
