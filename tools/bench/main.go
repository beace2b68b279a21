// Command bench measures the system through its public API (make bench):
// the accept path at fixed offered rates, purchases end to end, the CPU and
// memory of every process, and two baselines measured in the same run on
// the same machine: a bare publish through a sidecar, and the same accept
// handler with the sidecar calls removed. It writes
// bench/results/<date>-<profile>.json and prints a table.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bankabc/vouchers/tools/runner"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type config struct {
	profile, root, out string
	rates              []int
	step, e2eFor       time.Duration
	e2eWarmup          time.Duration
	e2eRate, users     int
	e2eOnly            bool
	burst              int
	hanging            int
	flood              int
	floodFor           time.Duration
	floodOnly          bool
	gateways           int
	sustain, soak      bool
}

func run() error {
	var cfg config
	var rates string
	flag.StringVar(&cfg.profile, "profile", "embedded", "component profile")
	flag.StringVar(&cfg.root, "root", ".", "the repository (dapr.yaml, .bin/daprd, bin/)")
	flag.StringVar(&cfg.out, "out", "bench/results", "where the JSON result goes")
	flag.StringVar(&rates, "rates", "100,200,300,500,700,1000", "offered rates of the accept path, per second")
	flag.DurationVar(&cfg.step, "step", 10*time.Second, "how long each offered rate lasts")
	flag.IntVar(&cfg.e2eRate, "e2e-rate", 100, "offered rate of the end-to-end phase")
	flag.DurationVar(&cfg.e2eFor, "e2e-for", 5*time.Second, "how long the end-to-end phase offers purchases")
	flag.DurationVar(&cfg.e2eWarmup, "e2e-warmup", 0, "purchases offered at the end-to-end rate before the phase, carried to their end and not counted (0: the phase starts on a cold system)")
	flag.IntVar(&cfg.users, "users", 40, "signed-up, verified users the load spreads over")
	flag.BoolVar(&cfg.e2eOnly, "e2e-only", false, "run the end-to-end phases alone, print them, write nothing")
	flag.IntVar(&cfg.burst, "burst", 200, "purchases sent at once after the end-to-end phase (0: none)")
	flag.IntVar(&cfg.hanging, "hanging", 100, "one customer's webhooks to a receiver that never answers, then others' purchases timed beside them (0: none)")
	flag.IntVar(&cfg.flood, "flood", 200, "anonymous sign-ins at a time in the sign-in flood (0: none)")
	flag.DurationVar(&cfg.floodFor, "flood-for", 10*time.Second, "how long the sign-in flood lasts")
	flag.BoolVar(&cfg.floodOnly, "flood-only", false, "run the sign-in flood alone, print it, write nothing")
	flag.BoolVar(&cfg.sustain, "sustain", false, "the end-to-end phase alone (-e2e-rate for -e2e-for after -e2e-warmup), with its CPU and sidecar calls, written to -out")
	flag.BoolVar(&cfg.soak, "soak", false, "-sustain, and each process's RSS and the data directory's size at the phase's start and end")
	flag.IntVar(&cfg.gateways, "gateways", 1, "instances of gateway, each beside its own daprd, behind the runner's round-robin balancer")
	flag.Parse()
	held := Held{Profile: cfg.profile, Mode: "sustain"}
	if cfg.soak {
		held.Mode, cfg.sustain = "soak", true
	}
	if cfg.sustain {
		cfg.e2eOnly, cfg.burst, cfg.flood = true, 0, 0
	}
	for _, r := range strings.Split(rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			return fmt.Errorf("bad rate %q", r)
		}
		cfg.rates = append(cfg.rates, n)
	}
	root, err := filepath.Abs(cfg.root)
	if err != nil {
		return err
	}
	cfg.root = root

	res := Result{Date: time.Now().UTC().Format(time.RFC3339), Profile: cfg.profile, Machine: machine(), StepSeconds: cfg.step.Seconds(), Gateways: cfg.gateways}

	// 1. The baseline without the sidecar: the gateway's own benchmark.
	if !cfg.e2eOnly && !cfg.floodOnly {
		fmt.Println(">> baseline: the accept handler with in-memory state (go test -bench)")
		if res.InMemory, err = inMemoryBaseline(cfg.root); err != nil {
			return err
		}
	}

	// The sign-in flood, on a fresh system of its own, so that gateway's
	// peak memory is the flood's.
	if cfg.flood > 0 && (!cfg.e2eOnly || cfg.floodOnly) {
		fmt.Printf(">> sign-in flood: %d anonymous sign-ins at a time for %s, a signed-in customer beside them\n", cfg.flood, cfg.floodFor)
		if err := withSystem(cfg, func(s *system) error {
			f := s.signInFlood(cfg.flood, cfg.floodFor)
			res.SignInFlood = &f
			fmt.Println("  ", f)
			return nil
		}); err != nil {
			return err
		}
		if cfg.floodOnly {
			return nil
		}
	}

	// 2. End to end, on a fresh system so nothing queued before skews it.
	fmt.Printf(">> end to end: %d purchases/s for %s, each with a webhook\n", cfg.e2eRate, cfg.e2eFor)
	if err := withSystem(cfg, func(s *system) error {
		var err error
		if cfg.e2eWarmup > 0 {
			// Connections, channels and prepared statements are opened by
			// the first purchases: with a warm-up, the phase measures the
			// system as it runs, not as it starts.
			w, err := s.endToEnd(cfg.e2eRate, cfg.e2eWarmup)
			if err != nil {
				return err
			}
			fmt.Println("   warm-up, not counted:", w)
		}
		var rssStart map[string]int64
		var dataStart int64
		rssMid := make(chan map[string]int64, 1)
		if cfg.soak {
			rssStart, dataStart = s.rss(), dirBytes(s.dataDir)
			time.AfterFunc(cfg.e2eFor/2, func() { rssMid <- s.rss() })
		}
		before, calls := s.usage(), s.sidecarCalls()
		res.EndToEndWork, err = s.measureWork(func() (err error) {
			res.EndToEnd, err = s.endToEnd(cfg.e2eRate, cfg.e2eFor)
			res.EndToEnd.WarmupSeconds = cfg.e2eWarmup.Seconds()
			return err
		})
		res.EndToEndProcesses = s.usageSince(before)
		res.EndToEndSidecarCalls = s.sidecarCalls().since(calls)
		if cfg.soak {
			held.Soak = soakOf(rssStart, <-rssMid, s.rss(), dataStart, dirBytes(s.dataDir), res.EndToEnd.Completed)
		}
		if err != nil || cfg.burst == 0 {
			return err
		}
		fmt.Println("  ", res.EndToEnd)
		fmt.Printf(">> burst: %d purchases at once, each with a webhook; a 503 is retried 100 ms later, as a careful client would\n", cfg.burst)
		b, err := s.burst(cfg.burst)
		res.Burst = &b
		if err != nil || cfg.hanging == 0 {
			return err
		}
		fmt.Println("  ", b.BurstString())
		fmt.Printf(">> beside hanging webhooks: one customer's %d to a receiver that never answers, then others' purchases at 10/s for 5 s\n", cfg.hanging)
		h, err := s.besideHanging(cfg.hanging, 10, 5*time.Second)
		res.BesideHanging = &h
		return err
	}); err != nil {
		return err
	}
	if cfg.sustain {
		held.Date, held.Machine = res.Date, res.Machine
		held.EndToEnd, held.Processes, held.Calls = res.EndToEnd, res.EndToEndProcesses, res.EndToEndSidecarCalls
		held.Lost = res.EndToEnd.Sent - res.EndToEnd.Errors - res.EndToEnd.Completed
		fmt.Println(res.EndToEnd)
		fmt.Printf("lost (accepted, no webhook within two minutes of the last): %d\n", held.Lost)
		fmt.Print(res.EndToEndCPU())
		fmt.Print(res.EndToEndCalls())
		if held.Soak != nil {
			fmt.Print(held.Soak)
		}
		path, err := writeResult(cfg, fmt.Sprintf("%s-%s-%d", held.Profile, held.Mode, held.EndToEnd.Offered), held)
		if err != nil {
			return err
		}
		fmt.Println("\nwritten to", path)
		return nil
	}
	if cfg.e2eOnly {
		fmt.Println(res.EndToEnd)
		fmt.Print(res.EndToEndCPU())
		fmt.Print(res.EndToEndCalls())
		fmt.Print(res.EndToEndWorkTable())
		if res.Burst != nil {
			fmt.Println(res.Burst.BurstString())
		}
		if res.BesideHanging != nil {
			fmt.Println(res.BesideHanging)
		}
		return nil
	}

	// 3. The bare publish, then the accept path, at the same offered rates,
	// on another fresh system (the bare publish first: the purchases leave
	// work behind them, redrives among it, that would load its figures);
	// CPU and memory per process over each.
	if err := withSystem(cfg, func(s *system) error {
		before := s.usage()
		for _, rate := range cfg.rates {
			fmt.Printf(">> bare publish through gateway's sidecar at %d/s for %s\n", rate, cfg.step)
			at := s.usage()
			st := s.load(rate, cfg.step, s.barePublish)
			st.GatewayCPUMsPerRequest = s.pathCPU(at, st.Sent)
			res.BarePublish = append(res.BarePublish, st)
			res.BareRequests += st.Sent
			fmt.Printf("   %s\n", st)
		}
		res.BareProcesses = s.usageSince(before)
		before = s.usage()
		for _, rate := range cfg.rates {
			fmt.Printf(">> accept path at %d/s for %s\n", rate, cfg.step)
			at := s.usage()
			var prof chan []byte
			if rate == profileRate {
				prof = s.profileGateway(cfg.step / 2)
			}
			st := s.load(rate, cfg.step, s.purchase)
			if prof != nil {
				res.GatewayProfile = saveProfile(cfg, <-prof)
			}
			st.GatewayCPUMsPerRequest = s.pathCPU(at, st.Sent)
			res.Accept = append(res.Accept, st)
			res.AcceptRequests += st.Sent
			fmt.Printf("   %s\n", st)
		}
		res.Processes = s.usageSince(before)
		return nil
	}); err != nil {
		return err
	}
	res.summarize()

	path, err := writeResult(cfg, cfg.profile, res)
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Print(res.Table())
	fmt.Println("\nwritten to", path)
	return nil
}

// writeResult puts v in the results folder as <date>-<name>.json.
func writeResult(cfg config, name string, v any) (string, error) {
	dir := cfg.out
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(cfg.root, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, time.Now().UTC().Format("2006-01-02")+"-"+name+".json")
	b, _ := json.MarshalIndent(v, "", "  ")
	return path, os.WriteFile(path, b, 0o644)
}

// system is a running system with its users.
type system struct {
	sys     *runner.System
	dataDir string
	gateway string
	client  *http.Client
	users   []user
	next    atomic.Uint64
	hooks   *hookServer
	pprof   string // gateway's pprof server
	// embedded: the broker runs inside this process.
	embedded bool
	// pathServers: the shared servers on a request's path, by process name.
	pathServers []string
}

type user struct{ token, phone string }

func withSystem(cfg config, f func(*system) error) (err error) {
	dir, err := os.MkdirTemp("", "vouchers-bench-")
	if err != nil {
		return err
	}
	if os.Getenv("BENCH_KEEP") == "" {
		defer os.RemoveAll(dir)
	} else {
		fmt.Println("   system log and data kept in", dir)
	}
	logf, err := os.Create(filepath.Join(dir, "system.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	hooks, err := startHooks()
	if err != nil {
		return err
	}
	defer hooks.close()
	vars, release, err := benchSpace(cfg.profile)
	if err != nil {
		return err
	}
	// The space goes after the system has stopped (deferred before Stop),
	// whatever the benchmark returns, and on Ctrl-C or SIGTERM too.
	defer func() {
		if rerr := release(); rerr != nil {
			if err == nil {
				err = rerr
			} else {
				fmt.Fprintln(os.Stderr, "bench:", rerr)
			}
		}
	}()
	var sysMu sync.Mutex
	var sys *runner.System
	defer onSignal(func() {
		sysMu.Lock()
		if sys != nil {
			sys.Stop()
		}
		sysMu.Unlock()
		if err := release(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	})()
	port, err := runner.FreePort()
	if err != nil {
		return err
	}
	pprofAddr := "127.0.0.1:" + strconv.Itoa(port)
	started, err := runner.Start(context.Background(), runner.Options{
		Vars:         vars,
		RunFile:      filepath.Join(cfg.root, "dapr.yaml"),
		Profile:      cfg.profile,
		DataDir:      dir,
		Daprd:        filepath.Join(cfg.root, ".bin", "daprd"),
		FreePorts:    true,
		Output:       logf,
		StartTimeout: 3 * time.Minute,
		Topics:       []string{baselineTopic},
		AppEnv: map[string]map[string]string{
			"voucher-provider": {"PROVIDER_MODE": "immediate"},
			"gateway":          {"PPROF_ADDR": pprofAddr},
			"gateway#2":        {"PPROF_ADDR": ""}, // the first instance is profiled
			"gateway#3":        {"PPROF_ADDR": ""},
		},
		AppReplicas: map[string]int{"gateway": cfg.gateways},
		Logf:        func(f string, a ...any) { fmt.Fprintf(logf, "runner | "+f+"\n", a...) },
	})
	if err != nil {
		return err
	}
	sysMu.Lock()
	sys = started
	sysMu.Unlock()
	defer sys.Stop()
	s := &system{sys: sys, dataDir: dir, gateway: sys.PublicURL("gateway"), hooks: hooks, pprof: "http://" + pprofAddr,
		embedded: cfg.profile == "embedded" || cfg.profile == "kafka", pathServers: pathServers[cfg.profile],
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2000, MaxConnsPerHost: 0}}}
	fmt.Printf("   signing up %d users\n", cfg.users)
	if err := s.signUp(cfg.users); err != nil {
		return err
	}
	return f(s)
}

// onSignal runs cleanup and exits if Ctrl-C or SIGTERM comes before the
// returned function is called: the system's processes die with the bench
// anyway, its space on the shared servers would not.
func onSignal(cleanup func()) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "bench: %s: stopping the system and removing its space on the shared servers\n", sig)
			cleanup()
			os.Exit(1)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// benchRedisDB is the Redis database the benchmark runs in on the redis
// profile, emptied before each system (0 is make run's; the test suites
// take 1-14).
const benchRedisDB = "15"

// benchSpace gives each system of the benchmark an empty space on the
// shared servers its profile uses, and release removes it (after the system
// has stopped; safe to call twice). On redis that is database 15, emptied
// here and left as it is after (so it can be looked into); on
// postgres-rabbitmq a database and a vhost of its own (runner.Isolate),
// dropped by release.
func benchSpace(profile string) (vars map[string]string, release func() error, err error) {
	nothing := func() error { return nil }
	switch profile {
	case "embedded", "kafka":
		// The runner's own broker (NATS or Kafka), in this process.
		return nil, nothing, nil
	case "redis":
		addr := os.Getenv("REDIS_HOST")
		if addr == "" {
			addr = "127.0.0.1:6379"
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return nil, nil, fmt.Errorf("redis at %s: %w", addr, err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		// RESP: SELECT 15, FLUSHDB; two "+OK" lines back.
		if _, err := fmt.Fprintf(c, "*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n*1\r\n$7\r\nFLUSHDB\r\n", len(benchRedisDB), benchRedisDB); err != nil {
			return nil, nil, err
		}
		buf := make([]byte, 64)
		got := ""
		for strings.Count(got, "\r\n") < 2 {
			n, err := c.Read(buf)
			if err != nil {
				return nil, nil, fmt.Errorf("redis at %s: %w", addr, err)
			}
			got += string(buf[:n])
		}
		if got != "+OK\r\n+OK\r\n" {
			return nil, nil, fmt.Errorf("redis at %s: emptying database %s: %q", addr, benchRedisDB, got)
		}
		return map[string]string{"REDIS_DB": benchRedisDB}, nothing, nil
	case "postgres-rabbitmq":
		iso, err := runner.Isolate(context.Background(), profile, "bench")
		if err != nil {
			return nil, nil, err
		}
		return iso.Vars, iso.Close, nil
	}
	return nil, nil, fmt.Errorf("make bench runs on the embedded, kafka, redis and postgres-rabbitmq profiles, not %s", profile)
}

// pathServers are, per profile, the shared servers a request to gateway
// goes through (its broker and its store), by process name: their CPU
// counts in the request's (pathCPU). PostgreSQL runs a process per
// connection, all named postgres.
var pathServers = map[string][]string{
	"redis":             {"redis-server"},
	"postgres-rabbitmq": {"beam.smp", "postgres"},
}

// baselineTopic is published to by the bare-publish baseline; nobody
// subscribes to it.
const baselineTopic = "bench-baseline"

func (s *system) signUp(n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 4)
	s.users = make([]user, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			phone := fmt.Sprintf("+849%08d", 10000000+i*10) // last digit 0: immediate
			u, err := s.signUpOne(fmt.Sprintf("bench%d", i), phone)
			if err != nil {
				errs <- err
				return
			}
			s.users[i] = u
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

func (s *system) signUpOne(name, phone string) (user, error) {
	var tok struct{ AccessToken string }
	deadline := time.Now().Add(2 * time.Minute)
	for {
		// A 503 (every hashing slot taken) is tried again, as a careful
		// client would.
		err := s.call("POST", "/user/sign-up", "", map[string]string{"username": name, "phoneNumber": phone, "password": "bench password 1"}, http.StatusCreated, &tok)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), ": 503 ") || time.Now().After(deadline) {
			return user{}, err
		}
		time.Sleep(200 * time.Millisecond)
	}
	for {
		files, _ := filepath.Glob(filepath.Join(s.dataDir, "sms", phone+"_phone-code-*.txt"))
		if len(files) > 0 {
			b, _ := os.ReadFile(files[0])
			if m := sixDigits.FindStringSubmatch(string(b)); m != nil {
				if err := s.call("POST", "/user/phone/verify", tok.AccessToken, map[string]string{"code": m[1]}, http.StatusOK, nil); err != nil {
					return user{}, err
				}
				return user{token: tok.AccessToken, phone: phone}, nil
			}
		}
		if time.Now().After(deadline) {
			return user{}, fmt.Errorf("no verification SMS for %s", phone)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *system) call(method, path, token string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.gateway+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, rb)
	}
	if out != nil {
		return json.Unmarshal(rb, out)
	}
	return nil
}

// purchase is one POST /voucher by the next user; it returns an error for
// anything but 202.
func (s *system) purchase(callback string) (string, error) {
	u := s.users[s.next.Add(1)%uint64(len(s.users))]
	body := map[string]string{"phoneNumber": u.phone}
	if callback != "" {
		body["callbackUrl"] = callback
	}
	var v struct{ RequestID string }
	err := s.call("POST", "/voucher", u.token, body, http.StatusAccepted, &v)
	return v.RequestID, err
}

// barePublish is a publish through gateway's sidecar with no app logic.
func (s *system) barePublish(string) (string, error) {
	body := []byte(`{"n":` + strconv.FormatUint(s.next.Add(1), 10) + `}`)
	req, err := http.NewRequest(http.MethodPost, s.sys.SidecarURL("gateway")+"/v1.0/publish/pubsub/"+baselineTopic, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("dapr-api-token", s.sys.DaprToken("gateway"))
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		return "", fmt.Errorf("publish: %d", resp.StatusCode)
	}
	return "", nil
}

// offer calls send rate times per second for d, open loop: each call
// starts in its own goroutine at its scheduled time whatever the others do,
// and gets that time so latency counts from it (no coordinated omission).
// It returns how many it made and how long until the last one ended.
func offer(rate int, d time.Duration, send func(i int, at time.Time)) (n int, elapsed time.Duration) {
	n = int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		wg.Add(1)
		go func() {
			defer wg.Done()
			send(i, at)
		}()
	}
	wg.Wait()
	return n, time.Since(start)
}

// load offers rate requests per second for d and times each one.
func (s *system) load(rate int, d time.Duration, do func(string) (string, error)) Stats {
	lat := make([]time.Duration, int(float64(rate)*d.Seconds()))
	var errCount atomic.Int64
	var firstErr atomic.Value
	n, elapsed := offer(rate, d, func(i int, at time.Time) {
		_, err := do("")
		lat[i] = time.Since(at)
		if err != nil {
			errCount.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}
	})
	st := statsOf(lat)
	st.Offered, st.Sent, st.Errors = rate, n, int(errCount.Load())
	st.Achieved = float64(n-st.Errors) / elapsed.Seconds()
	if e, ok := firstErr.Load().(string); ok {
		st.FirstError = e
	}
	return st
}

// endToEnd offers purchases with a webhook at rate for d and waits (up to
// two minutes after the last) for each webhook: request to voucher stored
// and webhook received.
func (s *system) endToEnd(rate int, d time.Duration) (E2E, error) {
	sent := make([]time.Time, int(float64(rate)*d.Seconds()))
	ids := make([]string, len(sent))
	var errCount atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	n, _ := offer(rate, d, func(i int, at time.Time) {
		id, err := s.purchase(s.hooks.url)
		if err != nil {
			errCount.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			return
		}
		sent[i], ids[i] = at, id
	})
	lat := s.hookLatencies(ids, func(i int) time.Time { return sent[i] }, n-int(errCount.Load()), 200*time.Millisecond)
	if first := firstErr.Load(); first != nil {
		fmt.Printf("   %d purchases refused, the first with: %s\n", errCount.Load(), first)
	}
	e := E2E{Offered: rate, Sent: n, Errors: int(errCount.Load()), Completed: len(lat), WaitedSeconds: time.Since(start).Seconds()}
	e.Latency = statsOf(lat)
	return e, nil
}

// burst sends n purchases at once (a 503 is retried 100 ms later, for up to
// 30 s) and times each from the burst's start until its webhook arrived.
func (s *system) burst(n int) (E2E, error) {
	ids := make([]string, n)
	var errCount atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			for time.Since(start) < 30*time.Second {
				id, err := s.purchase(s.hooks.url)
				if err == nil {
					ids[i] = id
					return
				}
				if !strings.Contains(err.Error(), ": 503 ") {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			errCount.Add(1)
		})
	}
	wg.Wait()
	lat := s.hookLatencies(ids, func(int) time.Time { return start }, n-int(errCount.Load()), 100*time.Millisecond)
	e := E2E{Offered: n, Sent: n, Errors: int(errCount.Load()), Completed: len(lat), WaitedSeconds: time.Since(start).Seconds()}
	e.Latency = statsOf(lat)
	return e, nil
}

// besideHanging has the first user buy n vouchers whose webhooks go to a
// receiver that accepts connections and never answers, then times the
// other users' purchases, offered at rate for d, from request to webhook
// (issue 28, finding 1: they used to wait minutes behind the hanging ones).
func (s *system) besideHanging(n, rate int, d time.Duration) (Hanging, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Hanging{}, err
	}
	hang := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer func() { close(hang); _ = srv.Close() }()
	if len(s.users) < 2 {
		return Hanging{}, fmt.Errorf("beside hanging: needs 2 users or more, has %d", len(s.users))
	}
	mallory, others := s.users[0], s.users[1:]
	hangURL := "http://" + ln.Addr().String() + "/never"
	for bought := 0; bought < n; {
		var v struct{ RequestID string }
		err := s.call("POST", "/voucher", mallory.token, map[string]string{"phoneNumber": mallory.phone, "callbackUrl": hangURL}, http.StatusAccepted, &v)
		switch {
		case err == nil:
			bought++
		case strings.Contains(err.Error(), ": 429 ") || strings.Contains(err.Error(), ": 503 "):
			time.Sleep(100 * time.Millisecond) // one customer's share of purchases in progress
		default:
			return Hanging{}, err
		}
	}
	sent := make([]time.Time, int(float64(rate)*d.Seconds()))
	ids := make([]string, len(sent))
	var errCount atomic.Int64
	start := time.Now()
	sentN, _ := offer(rate, d, func(i int, at time.Time) {
		u := others[i%len(others)]
		var v struct{ RequestID string }
		if err := s.call("POST", "/voucher", u.token, map[string]string{"phoneNumber": u.phone, "callbackUrl": s.hooks.url}, http.StatusAccepted, &v); err != nil {
			errCount.Add(1)
			return
		}
		sent[i], ids[i] = at, v.RequestID
	})
	lat := s.hookLatencies(ids, func(i int) time.Time { return sent[i] }, sentN-int(errCount.Load()), 100*time.Millisecond)
	e := E2E{Offered: rate, Sent: sentN, Errors: int(errCount.Load()), Completed: len(lat), WaitedSeconds: time.Since(start).Seconds()}
	e.Latency = statsOf(lat)
	return Hanging{Hanging: n, Others: e}, nil
}

// hookLatencies waits, polling every poll for up to two minutes, until
// want of the purchases ids (an empty id was refused) have their webhook,
// and returns each one's latency from from(i).
func (s *system) hookLatencies(ids []string, from func(i int) time.Time, want int, poll time.Duration) []time.Duration {
	deadline := time.Now().Add(2 * time.Minute)
	var lat []time.Duration
	for {
		lat = lat[:0]
		for i, id := range ids {
			if got, ok := s.hooks.received(id); id != "" && ok {
				lat = append(lat, got.Sub(from(i)))
			}
		}
		if len(lat) == want || time.Now().After(deadline) {
			return lat
		}
		time.Sleep(poll)
	}
}

// hookServer is the customers' webhook endpoint: it records when each
// request's webhook arrived.
type hookServer struct {
	srv  *http.Server
	url  string
	mu   sync.Mutex
	seen map[string]time.Time
}

func startHooks() (*hookServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hookServer{url: "http://" + ln.Addr().String() + "/hook", seen: map[string]time.Time{}}
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A Standard Webhooks body: {"type", "timestamp", "data": {...}}.
		var body struct {
			Data struct{ RequestID string } `json:"data"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		h.mu.Lock()
		if _, ok := h.seen[body.Data.RequestID]; !ok {
			h.seen[body.Data.RequestID] = time.Now()
		}
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = h.srv.Serve(ln) }()
	return h, nil
}

func (h *hookServer) received(id string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.seen[id]
	return t, ok
}

func (h *hookServer) close() { _ = h.srv.Close() }

// inMemoryBaseline runs the gateway's accept-path benchmark with in-memory
// state (services/gateway/internal/ports) and returns its cost per request.
func inMemoryBaseline(root string) (InMemory, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "AcceptPathInMemory", "-benchtime", "20000x", "-benchmem", "./internal/ports")
	cmd.Dir = filepath.Join(root, "services", "gateway")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return InMemory{}, fmt.Errorf("in-memory baseline: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`BenchmarkAcceptPathInMemory\S*\s+\d+\s+([\d.]+) ns/op\s+(\d+) B/op\s+(\d+) allocs/op`).FindStringSubmatch(string(out))
	if m == nil {
		return InMemory{}, fmt.Errorf("in-memory baseline: no result in\n%s", out)
	}
	ns, _ := strconv.ParseFloat(m[1], 64)
	bytes, _ := strconv.Atoi(m[2])
	allocs, _ := strconv.Atoi(m[3])
	return InMemory{MicrosPerRequest: ns / 1000, BytesPerRequest: bytes, AllocsPerRequest: allocs}, nil
}

// usage reads CPU time and peak RSS of every process of the system, the
// bench process itself (runner, embedded broker, load generator) and any
// broker or store server on this machine.
type usage map[string]procUsage

type procUsage struct {
	pid     int
	cpu     float64 // seconds
	peakRSS int64   // KiB
}

func (s *system) usage() usage {
	u := usage{}
	procs := s.sys.Processes()
	procs["bench (runner, embedded broker, load)"] = os.Getpid()
	for _, name := range []string{"redis-server", "postgres", "beam.smp"} {
		for _, pid := range pidsNamed(name) {
			procs[fmt.Sprintf("%s (pid %d, shared)", name, pid)] = pid
		}
	}
	for name, pid := range procs {
		cpu, rss, err := readProc(pid)
		if err == nil {
			u[name] = procUsage{pid: pid, cpu: cpu, peakRSS: rss}
		}
	}
	return u
}

// profileRate is the offered rate during which gateway's CPU is profiled.
const profileRate = 300

// profileGateway takes a CPU profile of gateway for d, in the background.
func (s *system) profileGateway(d time.Duration) chan []byte {
	out := make(chan []byte, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.pprof, int(d.Seconds())))
		if err != nil {
			out <- nil
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		out <- b
	}()
	return out
}

// saveProfile keeps the profile beside the results and returns its top
// functions (go tool pprof -top).
func saveProfile(cfg config, b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	dir := cfg.out
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(cfg.root, dir)
	}
	_ = os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, time.Now().UTC().Format("2006-01-02")+"-"+cfg.profile+"-gateway.pprof")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil
	}
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=20", path).Output()
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines
}

// pathCPU is the CPU time, per request, of the processes a request to
// gateway goes through: gateway, its sidecar, the broker and the store.
func (s *system) pathCPU(before usage, requests int) float64 {
	if requests == 0 {
		return 0
	}
	after := s.usage()
	total := 0.0
	for name, a := range after {
		// The broker (and store): embedded in the bench process (with the
		// load generator, which cannot be told apart), or shared servers.
		if name == "gateway" || name == "gateway.daprd" || s.onPath(name) ||
			(s.embedded && strings.HasPrefix(name, "bench ")) {
			total += a.cpu - before[name].cpu
		}
	}
	return round(1000*total/float64(requests), 3)
}

// onPath says whether a process of usage is one of the profile's shared
// servers on a request's path.
func (s *system) onPath(name string) bool {
	for _, srv := range s.pathServers {
		if strings.HasPrefix(name, srv+" (pid ") {
			return true
		}
	}
	return false
}

func (s *system) usageSince(before usage) []Process {
	after := s.usage()
	var out []Process
	for name, a := range after {
		b, ok := before[name]
		if !ok || b.pid != a.pid {
			continue
		}
		if a.cpu-b.cpu < 0.05 && strings.Contains(name, "shared") {
			continue // a server this profile does not use
		}
		out = append(out, Process{Name: name, CPUSeconds: round(a.cpu-b.cpu, 2), PeakRSSMiB: round(float64(a.peakRSS)/1024, 1)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func readProc(pid int) (cpu float64, peakKiB int64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name (which may hold spaces) start at ")".
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	cpu = (utime + stime) / 100 // USER_HZ
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			peakKiB, _ = strconv.ParseInt(strings.Fields(line)[1], 10, 64)
		}
	}
	return cpu, peakKiB, nil
}

func pidsNamed(name string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(comm)) == name {
			out = append(out, pid)
		}
	}
	return out
}

func machine() string {
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	n, _ := exec.Command("nproc").Output()
	return fmt.Sprintf("%s cores, %s", strings.TrimSpace(string(n)), cpu)
}
