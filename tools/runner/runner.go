package runner

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options says what to start and how.
type Options struct {
	// RunFile is the path of dapr.yaml.
	RunFile string
	// Profile replaces the profile folder (components/<profile>) in every
	// resources path; empty keeps the run file's.
	Profile string
	// DataDir holds state files, the broker's storage, secrets and rendered
	// resources. It is created if missing.
	DataDir string
	// Daprd is the daprd binary.
	Daprd string
	// FreePorts gives every app, sidecar and the broker a free port instead
	// of the run file's, so several systems (tests) can run side by side.
	FreePorts bool
	// Output receives every child's output, one prefixed line at a time.
	Output io.Writer
	// StartTimeout bounds the wait for every sidecar to report healthy.
	StartTimeout time.Duration
	// Vars fill ${NAME} placeholders in resource files, before the
	// environment does: tests point a profile at their own database, Redis
	// DB or RabbitMQ vhost with them.
	Vars map[string]string
	// ProxyBroker puts a TCP relay of the runner's between the sidecars and
	// a shared broker, so StopBroker can take the broker away from this
	// system alone (fault tests). The embedded broker needs none.
	ProxyBroker bool
	// Topics are published to by the caller directly (a benchmark's
	// baseline): the embedded broker gets a stream for each up front.
	Topics []string
	// Env is added to every app's environment (after the run file's), and
	// AppEnv to one app's (every instance's; an instance's name, such as
	// "gateway#2", to that instance's alone): tests use them to scale
	// durations down.
	Env    map[string]string
	AppEnv map[string]map[string]string
	// Logf receives the runner's own progress lines.
	Logf func(format string, args ...any)
	// Replicas is how many instances of each app to start (0 or 1: one),
	// and AppReplicas overrides it for one app. Every instance has its own
	// daprd, ports and tokens, and the same app id: they share the app's
	// stores, its consumer group on the broker and its service-invocation
	// name, as replicas of a Deployment do. Instances after the first take
	// free ports and are named <app>#2, <app>#3… (Kill, Restart and the
	// URLs take these names); PublicURL of an app with several is a
	// round-robin TCP balancer in front of their public ports, as an
	// ingress would be. The run file is untouched: the Dapr CLI runs one.
	Replicas    int
	AppReplicas map[string]int
	// Supervise, if set, has the runner start an app or daprd that exits
	// again, with backoff (Supervision); nil leaves it down and reports it
	// through Exited, for tests that kill and restart parts themselves.
	Supervise *Supervision
}

// System is a running set of apps and sidecars.
type System struct {
	opts    Options
	apps    []*appRun
	byID    map[string]*appRun
	broker  *broker
	kafka   *kafkaBroker
	proxy   *relay
	servers []*backend
	// balancers front the public ports of apps with several instances.
	balancers map[string]*relay
	// rabbitURL and queues: on a RabbitMQ profile, the queues daprd must
	// consume before the system is up.
	rabbitURL string
	queues    []string
	resources []string
	config    string
	outMu     sync.Mutex

	// mu guards stopped and, once supervisors run, each app's app and dapr.
	mu      sync.Mutex
	stopped bool
	// quit is closed by Stop; supervisors wait on it and Stop waits for
	// them.
	quit        chan struct{}
	supervisors sync.WaitGroup
}

type appRun struct {
	App
	// name is the instance's: the app id, or <app id>#<n> for the n-th
	// replica (n from 2).
	name         string
	internalPort int
	// publicPort is the app's PUBLIC_PORT (its env in the run file), 0
	// when it has none.
	publicPort int
	// appToken (APP_API_TOKEN) is what daprd proves itself to the app
	// with, daprToken (DAPR_API_TOKEN) what the app proves itself to
	// daprd with: random for each app and run.
	appToken, daprToken string
	app, dapr           *proc
	// initRetries counts the starts of daprd again after a component
	// failed to initialize (waitHealthy).
	initRetries int
}

// maxInitRetries is how often a daprd that went on without a component is
// started again before the start fails.
const maxInitRetries = 3

// Part names one of the two processes of an app.
type Part string

const (
	PartApp  Part = "app"
	PartDapr Part = "daprd"
)

// StartError is a start-up failure that names the process at fault.
type StartError struct {
	Process string
	Reason  string
	Lines   string
}

func (e *StartError) Error() string {
	s := fmt.Sprintf("%s failed at start-up: %s", e.Process, e.Reason)
	if e.Lines != "" {
		s += "\n--- last lines of " + e.Process + " ---\n" + e.Lines
	}
	return s
}

// Start brings the whole system up and returns once every sidecar reports
// healthy. On any failure it stops what it started and says which process
// failed, with its last log lines.
func Start(ctx context.Context, opts Options) (*System, error) {
	if opts.Output == nil {
		opts.Output = os.Stdout
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	if opts.Daprd == "" {
		opts.Daprd = "daprd"
	}
	var err error
	// Children run in their app folders: resolve the binary here.
	if strings.ContainsRune(opts.Daprd, os.PathSeparator) {
		if opts.Daprd, err = filepath.Abs(opts.Daprd); err != nil {
			return nil, err
		}
	} else if opts.Daprd, err = exec.LookPath(opts.Daprd); err != nil {
		return nil, fmt.Errorf("daprd not found: run `make daprd` (%w)", err)
	}
	if _, err := os.Stat(opts.Daprd); err != nil {
		return nil, fmt.Errorf("daprd not found at %s: run `make daprd`", opts.Daprd)
	}
	rf, err := LoadRunFile(opts.RunFile)
	if err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	opts.DataDir = dataDir
	// The data folder holds the stores (password hashes, sessions, codes),
	// the texts sent and the rendered components (the broker's token):
	// the user's alone.
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return nil, err
	}
	if len(rf.Ignored) > 0 {
		opts.Logf("%s: not used by the runner (the Dapr CLI's): %s", filepath.Base(opts.RunFile), strings.Join(rf.Ignored, ", "))
	}
	s := &System{opts: opts, byID: map[string]*appRun{}, balancers: map[string]*relay{}, quit: make(chan struct{})}
	for _, a := range rf.Apps {
		a.ResourcesPaths = withProfile(a.ResourcesPaths, opts.Profile)
		a.ConfigFilePath = configFor(a.ConfigFilePath, opts.Profile)
		publicPort := 0
		if p := a.Env["PUBLIC_PORT"]; p != "" {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil, fmt.Errorf("app %s: PUBLIC_PORT %q is not a port", a.AppID, p)
			}
			publicPort = n
		}
		for i := range opts.replicas(a.AppID) {
			ar := &appRun{App: a, name: a.AppID, publicPort: publicPort, appToken: randomToken(), daprToken: randomToken()}
			if i > 0 {
				// Another instance: the same app on ports of its own.
				ar.name = fmt.Sprintf("%s#%d", a.AppID, i+1)
				ar.AppPort, ar.DaprHTTPPort, ar.DaprGRPCPort, ar.MetricsPort = 0, 0, 0, 0
				if ar.publicPort != 0 {
					ar.publicPort = -1 // a free one
				}
			}
			s.apps = append(s.apps, ar)
			s.byID[ar.name] = ar
		}
	}
	if err := s.assignPorts(); err != nil {
		return nil, err
	}
	if err := s.startBalancers(); err != nil {
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.startAll(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	if opts.Supervise != nil {
		sv := opts.Supervise.withDefaults()
		for _, a := range s.apps {
			s.supervisors.Add(2)
			go s.supervise(a, PartApp, sv)
			go s.supervise(a, PartDapr, sv)
		}
	}
	return s, nil
}

// CLIProfile is the profile folder the run file names for the Dapr CLI
// (components/cli: Redis on localhost:6379, as after `dapr init`, with
// every value written out, since daprd fills in no placeholders). It holds
// what components/local holds for the runner's profiles, and its own
// Configuration. Generated: WriteCLIProfile.
const CLIProfile = "cli"

// withProfile gives the resources paths of a profile: components/common
// stays, and the profile folder the run file names (and components/local,
// if named) gives way to components/local and components/<profile>.
// CLIProfile is whole by itself. An empty profile keeps the run file's.
func withProfile(paths []string, profile string) []string {
	if profile == "" {
		return append([]string(nil), paths...)
	}
	var out []string
	replaced := false
	for _, p := range paths {
		dir := filepath.Dir(p)
		if filepath.Base(dir) != "components" || filepath.Base(p) == "common" {
			out = append(out, p)
			continue
		}
		if !replaced {
			replaced = true
			if profile != CLIProfile {
				out = append(out, filepath.Join(dir, "local"))
			}
			out = append(out, filepath.Join(dir, profile))
		}
	}
	return out
}

// configFor is the Configuration of a profile: components/config.yaml, with
// placeholders the runner fills in, in place of a profile folder's own
// (components/cli/config.yaml, written out for the CLI).
func configFor(path, profile string) string {
	dir := filepath.Dir(path)
	if profile == "" || profile == CLIProfile || filepath.Base(filepath.Dir(dir)) != "components" {
		return path
	}
	return filepath.Join(filepath.Dir(dir), filepath.Base(path))
}

// assignPorts picks free ports when asked to, and otherwise checks that the
// run file's ports are free, so a taken port is named before anything starts.
func (s *System) assignPorts() error {
	for _, a := range s.apps {
		ports := []*int{&a.AppPort, &a.DaprHTTPPort, &a.DaprGRPCPort, &a.MetricsPort, &a.internalPort}
		names := []string{"app port", "daprHTTPPort", "daprGRPCPort", "metricsPort", "internal gRPC port"}
		if a.publicPort != 0 {
			ports, names = append(ports, &a.publicPort), append(names, "public port (PUBLIC_PORT)")
		}
		for i, p := range ports {
			if s.opts.FreePorts || *p <= 0 {
				port, err := FreePort()
				if err != nil {
					return err
				}
				*p = port
				continue
			}
			if err := portFree(*p); err != nil {
				return &StartError{Process: a.name, Reason: fmt.Sprintf("%s %d is already in use (%v); stop what holds it or change dapr.yaml", names[i], *p, err)}
			}
		}
	}
	return nil
}

// Free ports are picked below the kernel's ephemeral range (32768 and up
// on Linux): a port the kernel hands out for ":0" may be reused at once as
// the local port of an outgoing connection, and then daprd cannot bind it.
const (
	portRangeLow  = 20000
	portRangeSize = 12000
)

var (
	portMu    sync.Mutex
	handedOut = map[int]bool{}
)

// FreePort returns a TCP port that is free on every interface now and that
// this process has not handed out before.
func FreePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 1000 {
		p := portRangeLow + rand.IntN(portRangeSize)
		if handedOut[p] || portFree(p) != nil {
			continue
		}
		handedOut[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free port between %d and %d", portRangeLow, portRangeLow+portRangeSize-1)
}

// portFree checks the port on every interface (daprd's internal gRPC
// server listens on all of them) and on the loopback.
func portFree(port int) error {
	for _, addr := range []string{":", "127.0.0.1:"} {
		ln, err := net.Listen("tcp", addr+strconv.Itoa(port))
		if err != nil {
			return err
		}
		ln.Close()
	}
	return nil
}

// prepare starts the embedded broker when the profile asks for it, makes the
// local secrets, renders the resources and creates the streams.
func (s *System) prepare(ctx context.Context) error {
	vars := placeholderValues(s.opts.DataDir, s.opts.Vars)
	for _, a := range s.apps {
		if a.name == a.AppID { // the first instance's (the provider fake runs one)
			vars["APP_PORT_"+envName(a.AppID)] = strconv.Itoa(a.AppPort)
		}
	}
	dirs := resourceDirs(s.apps)
	embedded, err := usesPlaceholder(dirs, "NATS_URL")
	if err != nil {
		return err
	}
	if embedded {
		port, err := FreePort()
		if err != nil {
			return err
		}
		s.opts.Logf("starting embedded NATS JetStream on 127.0.0.1:%d (storage %s)", port, filepath.Join(s.opts.DataDir, "nats"))
		token := randomToken()
		if s.broker, err = startBroker(filepath.Join(s.opts.DataDir, "nats"), port, token); err != nil {
			return &StartError{Process: "nats", Reason: err.Error()}
		}
		vars["NATS_URL"], vars["NATS_TOKEN"] = s.broker.url, token
	}
	// The kafka profile's broker is the runner's own unless KAFKA_BROKERS
	// names one (a team's cluster, checked below like any server).
	kafka, err := usesPlaceholder(dirs, "KAFKA_BROKERS")
	if err != nil {
		return err
	}
	if kafka && vars["KAFKA_BROKERS"] == "" {
		port, err := FreePort()
		if err != nil {
			return err
		}
		dir := filepath.Join(s.opts.DataDir, "kafka")
		s.opts.Logf("starting embedded Kafka (kfake) on 127.0.0.1:%d (storage %s)", port, dir)
		if s.kafka, err = startKafka(dir, filepath.Join(s.opts.DataDir, "kafka-password"), port); err != nil {
			return &StartError{Process: "kafka", Reason: err.Error()}
		}
		vars["KAFKA_BROKERS"], vars["KAFKA_USER"], vars["KAFKA_PASSWORD"] = s.kafka.addr, KafkaUser, s.kafka.password
	}
	if err := EnsureLocalSecrets(filepath.Join(s.opts.DataDir, "secrets.json")); err != nil {
		return err
	}
	rendered, err := renderResources(dirs, filepath.Join(s.opts.DataDir, "run", "resources"), vars)
	if err != nil {
		return &StartError{Process: "resources", Reason: err.Error()}
	}
	s.resources = rendered.dirs
	for _, srv := range serversOf(rendered.docs) {
		own := (s.broker != nil && strings.HasSuffix(s.broker.url, "/"+srv.addr)) || (s.kafka != nil && s.kafka.addr == srv.addr)
		if !own {
			s.servers = append(s.servers, srv) // not the runner's own broker
		}
	}
	if s.rabbitURL = rabbitURL(rendered.docs); s.rabbitURL != "" {
		s.queues = subscribedQueues(rendered.docs)
	}
	if err := checkServers(s.servers, s.opts.Profile); err != nil {
		return err
	}
	for _, srv := range s.servers {
		s.opts.Logf("%s at %s answers (for %s)", srv.kind, srv.addr, strings.Join(srv.users, ", "))
		if srv.pubsub && s.opts.ProxyBroker {
			if s.proxy, err = startRelay(srv.addr); err != nil {
				return &StartError{Process: "broker proxy", Reason: err.Error()}
			}
			if err := pointAt(srv.file, srv.component, srv.addr, s.proxy.addr); err != nil {
				return &StartError{Process: "broker proxy", Reason: err.Error()}
			}
			s.opts.Logf("component %s reaches %s through the runner's proxy at %s", srv.component, srv.addr, s.proxy.addr)
		}
	}
	if s.broker != nil {
		topics := append(append([]string(nil), rendered.topics...), s.opts.Topics...)
		s.opts.Logf("creating %d JetStream streams: %s", len(topics), strings.Join(topics, ", "))
		if err := ensureStreams(ctx, s.broker.url, s.broker.token, topics); err != nil {
			return &StartError{Process: "nats", Reason: err.Error()}
		}
	}
	if s.kafka != nil {
		topics := append(append([]string(nil), rendered.topics...), s.opts.Topics...)
		s.opts.Logf("creating %d Kafka topics of %d partitions: %s", len(topics), KafkaPartitions, strings.Join(topics, ", "))
		if err := s.kafka.ensureTopics(ctx, topics); err != nil {
			return &StartError{Process: "kafka", Reason: err.Error()}
		}
	}
	if cfg := s.apps[0].ConfigFilePath; cfg != "" {
		raw, err := os.ReadFile(cfg)
		if err != nil {
			return err
		}
		text, err := expand(cfg, raw, vars)
		if err != nil {
			return err
		}
		s.config = filepath.Join(s.opts.DataDir, "run", "config.yaml")
		if err := os.WriteFile(s.config, text, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// daprNamespace is what daprd uses in self-hosted mode; set explicitly, so a
// NAMESPACE in the caller's environment does not change it.
const daprNamespace = "default"

func envName(appID string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(appID))
}

// placeholderValues are what ${NAME} placeholders take: DATA_DIR, then
// the caller's vars, then the environment.
func placeholderValues(dataDir string, vars map[string]string) map[string]string {
	out := map[string]string{"DATA_DIR": dataDir}
	for k, v := range vars {
		out[k] = v
	}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if _, set := out[k]; !set {
				out[k] = v
			}
		}
	}
	return out
}

// resourceDirs is the union of every app's resources paths, in order. All
// apps of one run share them (scopes decide who loads what).
func resourceDirs(apps []*appRun) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range apps {
		for _, p := range a.ResourcesPaths {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// EnsureLocalSecrets creates the local secret store's file on first run,
// and adds any key a newer version needs to an existing one. Secrets are
// random per data dir (or Compose checkout) and never in the repository.
func EnsureLocalSecrets(path string) error {
	secrets := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &secrets); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	random := func(n int) string {
		b := make([]byte, n)
		_, _ = crand.Read(b)
		return base64.RawStdEncoding.EncodeToString(b)
	}
	wanted := map[string]func() string{
		"jwt-signing-key": func() string { return random(32) },
		"jwt-key-id":      func() string { return fmt.Sprintf("local-%d", time.Now().Unix()) },
		"ops-token":       func() string { return random(24) },
	}
	changed := false
	for k, make := range wanted {
		if secrets[k] == "" {
			secrets[k], changed = make(), true
		}
	}
	if !changed {
		return nil
	}
	b, _ := json.MarshalIndent(secrets, "", "  ")
	return os.WriteFile(path, b, 0o600)
}

// startAll starts every app and sidecar. The first instance of each app
// comes up before the others start: a sidecar creates its stores' tables
// on a fresh database, and two doing it at once can fail (PostgreSQL:
// "type ... already exists" from a concurrent CREATE TABLE IF NOT EXISTS,
// and daprd exits), where an orchestrator would restart the loser.
func (s *System) startAll(ctx context.Context) error {
	var first, others []*appRun
	for _, a := range s.apps {
		if a.name == a.AppID {
			first = append(first, a)
		} else {
			others = append(others, a)
		}
	}
	for _, group := range [][]*appRun{first, others} {
		if len(group) == 0 {
			continue
		}
		for _, a := range group {
			if err := s.startPart(a, PartApp); err != nil {
				return err
			}
			if err := s.startPart(a, PartDapr); err != nil {
				return err
			}
		}
		s.opts.Logf("waiting for %d sidecars to report healthy", len(group))
		if err := s.waitHealthy(ctx, group); err != nil {
			return err
		}
	}
	return s.waitSubscribed(ctx)
}

// waitSubscribed waits, on a RabbitMQ profile, until daprd has declared and
// consumes every subscription's queue (see rabbitmq.go).
func (s *System) waitSubscribed(ctx context.Context) error {
	if s.rabbitURL == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	s.opts.Logf("waiting for the sidecars to consume %d RabbitMQ queues", len(s.queues))
	if err := waitForQueues(ctx, s.rabbitURL, s.queues); err != nil {
		return &StartError{Process: "rabbitmq", Reason: err.Error()}
	}
	return nil
}

func (s *System) startPart(a *appRun, part Part) error {
	out := s.opts.Output
	switch part {
	case PartApp:
		env := map[string]string{
			"APP_ID":            a.AppID,
			"APP_PORT":          strconv.Itoa(a.AppPort),
			"DAPR_HTTP_PORT":    strconv.Itoa(a.DaprHTTPPort),
			"DAPR_GRPC_PORT":    strconv.Itoa(a.DaprGRPCPort),
			"DAPR_METRICS_PORT": strconv.Itoa(a.MetricsPort),
			"DATA_DIR":          s.opts.DataDir,
		}
		for k, v := range a.appEnv(s.opts) {
			env[k] = v
		}
		env["SYSTEM_PORTS"] = s.systemPorts(env["SYSTEM_PORTS"])
		p, err := startProc(a.name, a.AppDirPath, a.Command, environ(env), out, &s.outMu)
		if err != nil {
			return &StartError{Process: a.name, Reason: err.Error()}
		}
		a.app = p
	case PartDapr:
		args := []string{s.opts.Daprd,
			"--app-id", a.AppID,
			"--app-port", strconv.Itoa(a.AppPort),
			"--app-protocol", orDefault(a.AppProtocol, "http"),
			"--dapr-http-port", strconv.Itoa(a.DaprHTTPPort),
			"--dapr-grpc-port", strconv.Itoa(a.DaprGRPCPort),
			"--dapr-internal-grpc-port", strconv.Itoa(a.internalPort),
			"--metrics-port", strconv.Itoa(a.MetricsPort),
			"--dapr-listen-addresses", "127.0.0.1",
			// Without it the internal API (sidecar to sidecar) listens on
			// every interface, and with no mTLS locally anything on the
			// network could invoke an app through it as any caller.
			"--dapr-internal-grpc-listen-address", "127.0.0.1",
			"--metrics-listen-address", "127.0.0.1",
			"--log-level", orDefault(a.LogLevel, "info"),
		}
		if a.EnableAppHealthCheck {
			args = append(args, "--enable-app-health-check", "--app-health-check-path", orDefault(a.AppHealthCheckPath, "/healthz"),
				"--app-health-probe-interval", strconv.Itoa(max(a.AppHealthProbeInterval, 1)))
			if a.AppHealthProbeTimeout > 0 {
				args = append(args, "--app-health-probe-timeout", strconv.Itoa(a.AppHealthProbeTimeout))
			}
			if a.AppHealthThreshold > 0 {
				args = append(args, "--app-health-threshold", strconv.Itoa(a.AppHealthThreshold))
			}
		}
		if a.AppMaxConcurrency > 0 {
			args = append(args, "--app-max-concurrency", strconv.Itoa(a.AppMaxConcurrency))
		}
		if a.MaxBodySize != "" {
			args = append(args, "--max-body-size", a.MaxBodySize)
		}
		if a.ReadBufferSize != "" {
			args = append(args, "--read-buffer-size", a.ReadBufferSize)
		}
		if a.EnableAPILogging {
			args = append(args, "--enable-api-logging")
		}
		for _, r := range s.resources {
			args = append(args, "--resources-path", r)
		}
		if s.config != "" {
			args = append(args, "--config", s.config)
		}
		// The same tokens as the app's: daprd sends APP_API_TOKEN to the
		// app and asks for DAPR_API_TOKEN on its own API.
		appEnv := a.appEnv(s.opts)
		env := map[string]string{"NAMESPACE": daprNamespace, "DAPR_HOST_IP": "127.0.0.1",
			"APP_API_TOKEN": appEnv["APP_API_TOKEN"], "DAPR_API_TOKEN": appEnv["DAPR_API_TOKEN"]}
		p, err := startProc(a.name+".daprd", a.AppDirPath, args, environ(env), out, &s.outMu)
		if err != nil {
			return &StartError{Process: a.name + ".daprd", Reason: err.Error()}
		}
		a.dapr = p
	}
	return nil
}

// appEnv is what the app's environment adds to the runner's ports and
// data dir: its tokens and public port, then the run file's env, then the
// caller's Env and AppEnv (which may replace a token, or set
// ALLOW_NO_APP_TOKEN with APP_API_TOKEN="" for a test).
func (a *appRun) appEnv(opts Options) map[string]string {
	env := map[string]string{"APP_API_TOKEN": a.appToken, "DAPR_API_TOKEN": a.daprToken}
	for k, v := range a.Env {
		env[k] = v
	}
	if a.publicPort != 0 {
		env["PUBLIC_PORT"] = strconv.Itoa(a.publicPort)
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	for k, v := range opts.AppEnv[a.AppID] {
		env[k] = v
	}
	if a.name != a.AppID { // one instance's own (AppEnv["gateway#2"])
		for k, v := range opts.AppEnv[a.name] {
			env[k] = v
		}
	}
	return env
}

// randomToken is 32 random bytes, hex.
func randomToken() string {
	var b [32]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// sidecarGrace is how long an app that exited at start waits to be
// excused by its sidecar's own exit.
const sidecarGrace = 2 * time.Second

// culprit is the process of a that exited, if one did. An app whose
// sidecar is dying fails on the broken connection, often a moment before
// the sidecar is seen to exit (a component it cannot load): when the
// sidecar exits within grace of its app, the sidecar is named.
func culprit(a *appRun, grace time.Duration) *proc {
	if a.dapr.exited() {
		return a.dapr
	}
	if !a.app.exited() {
		return nil
	}
	select {
	case <-a.dapr.done:
		return a.dapr
	case <-time.After(grace):
		return a.app
	}
}

// waitHealthy polls each sidecar's /v1.0/healthz (204 once its components
// are loaded and its app answers) while watching for a process that exits.
func (s *System) waitHealthy(ctx context.Context, apps []*appRun) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	pending := map[string]*appRun{}
	for _, a := range apps {
		pending[a.name] = a
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		for id, a := range pending {
			if p := culprit(a, sidecarGrace); p != nil {
				return &StartError{Process: p.name, Reason: "exited (" + exitText(p.err) + ")", Lines: p.lastLines()}
			}
			if line := a.dapr.failedInit(); line != "" {
				// Sidecars starting together can race on name resolution's
				// SQLite file ("database is locked" while one creates its
				// tables): started again, as an orchestrator would, up to
				// maxInitRetries times; past that the failure is real.
				if a.initRetries < maxInitRetries {
					a.initRetries++
					s.opts.Logf("%s: a component failed to initialize; starting it again (%d of %d)", a.dapr.name, a.initRetries, maxInitRetries)
					a.dapr.kill()
					if err := s.startPart(a, PartDapr); err != nil {
						return err
					}
					continue
				}
				return &StartError{Process: a.dapr.name, Reason: "a component failed to initialize and daprd went on without it", Lines: line}
			}
			if healthy(client, fmt.Sprintf("http://127.0.0.1:%d/v1.0/healthz", a.DaprHTTPPort)) &&
				(!a.EnableAppHealthCheck || healthy(client, fmt.Sprintf("http://127.0.0.1:%d%s", a.AppPort, orDefault(a.AppHealthCheckPath, "/healthz")))) {
				public := ""
				if a.publicPort != 0 {
					public = fmt.Sprintf(", public :%d", a.publicPort)
				}
				s.opts.Logf("%s is healthy (app :%d%s, sidecar http :%d grpc :%d)", id, a.AppPort, public, a.DaprHTTPPort, a.DaprGRPCPort)
				delete(pending, id)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			var names []string
			for id := range pending {
				names = append(names, id)
			}
			sort.Strings(names)
			a := pending[names[0]]
			return &StartError{Process: names[0] + ".daprd", Reason: fmt.Sprintf("not healthy after %s (waiting for: %s)", s.opts.StartTimeout, strings.Join(names, ", ")), Lines: a.dapr.lastLines()}
		case <-tick.C:
		}
	}
}

func healthy(c *http.Client, url string) bool {
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Stop stops every process (SIGTERM, then SIGKILL) and the broker. It is
// safe to call more than once. No supervisor starts anything after it.
func (s *System) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	close(s.quit)
	var procs []*proc
	for _, a := range s.apps {
		for _, p := range []*proc{a.dapr, a.app} {
			if p != nil {
				procs = append(procs, p)
			}
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop(10 * time.Second) }()
	}
	wg.Wait()
	s.supervisors.Wait()
	if s.broker != nil {
		s.broker.stop()
	}
	if s.kafka != nil {
		s.kafka.stop()
	}
	if s.proxy != nil {
		s.proxy.stop()
	}
	for _, b := range s.balancers {
		b.stop()
	}
}

// Exited reports, once, the first process that exits while the system runs.
// With Options.Supervise it sees the processes running when it is called,
// not the ones started again since.
func (s *System) Exited(ctx context.Context) (string, error) {
	cases := make(chan string, 2*len(s.apps))
	for _, a := range s.apps {
		for _, p := range []*proc{s.current(a, PartApp), s.current(a, PartDapr)} {
			go func() {
				select {
				case <-p.done:
					cases <- p.name + " exited (" + exitText(p.err) + ")\n--- last lines ---\n" + p.lastLines()
				case <-ctx.Done():
				}
			}()
		}
	}
	select {
	case msg := <-cases:
		return msg, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Kill is kill -9 of one part of an app, for fault injection. With
// Options.Supervise the runner starts it again by itself.
func (s *System) Kill(appID string, part Part) error {
	p, err := s.part(appID, part)
	if err != nil {
		return err
	}
	p.kill()
	return nil
}

// Terminate stops one part of an app as an orchestrator does in a rolling
// restart: SIGTERM, then SIGKILL after grace. The app part drains first
// (it stops taking requests and finishes the ones it has).
func (s *System) Terminate(appID string, part Part, grace time.Duration) error {
	p, err := s.part(appID, part)
	if err != nil {
		return err
	}
	p.stop(grace)
	return nil
}

// part is the process of one part of an app (or instance).
func (s *System) part(appID string, part Part) (*proc, error) {
	a, err := s.app(appID)
	if err != nil {
		return nil, err
	}
	return s.current(a, part), nil
}

// Restart starts killed parts of an app again (app before daprd, whatever
// the order given) and waits until its sidecar is healthy. With
// Options.Supervise it refuses: the supervisor would start them too.
func (s *System) Restart(ctx context.Context, appID string, parts ...Part) error {
	if s.opts.Supervise != nil {
		return errors.New("the runner restarts what exits itself (Options.Supervise)")
	}
	a, err := s.app(appID)
	if err != nil {
		return err
	}
	for _, want := range []Part{PartApp, PartDapr} {
		if slices.Contains(parts, want) {
			if err := s.startPart(a, want); err != nil {
				return err
			}
		}
	}
	return s.waitHealthy(ctx, []*appRun{a})
}

func (s *System) app(id string) (*appRun, error) {
	a, ok := s.byID[id]
	if !ok {
		return nil, errors.New("no app " + id)
	}
	return a, nil
}

// AppURL is the base URL of an app's own port (not through its sidecar).
func (s *System) AppURL(id string) string {
	return fmt.Sprintf("http://127.0.0.1:%d", s.byID[id].AppPort)
}

// PublicURL is the base URL of an app's public port (PUBLIC_PORT), or of
// its own port when it has none. For an app with several instances it is
// the balancer in front of them all; an instance's name (<app>#2) gives
// that instance's.
func (s *System) PublicURL(id string) string {
	if b := s.balancers[id]; b != nil {
		return "http://" + b.addr
	}
	if a := s.byID[id]; a.publicPort != 0 {
		return fmt.Sprintf("http://127.0.0.1:%d", a.publicPort)
	}
	return s.AppURL(id)
}

// DaprToken is what an app's sidecar asks for on its API (DAPR_API_TOKEN,
// header dapr-api-token): a test that calls a sidecar directly sends it.
func (s *System) DaprToken(id string) string { return s.byID[id].appEnv(s.opts)["DAPR_API_TOKEN"] }

// AppToken is what an app asks of its sidecar's calls (APP_API_TOKEN).
func (s *System) AppToken(id string) string { return s.byID[id].appEnv(s.opts)["APP_API_TOKEN"] }

// InternalAddr is the address of an app's daprd internal gRPC API (sidecar
// to sidecar), which takes plain gRPC without a token when there is no
// mTLS, as on every local run (docs/security.md).
func (s *System) InternalAddr(id string) string {
	return fmt.Sprintf("127.0.0.1:%d", s.byID[id].internalPort)
}

// SidecarURL is the base URL of an app's daprd HTTP API.
func (s *System) SidecarURL(id string) string {
	return fmt.Sprintf("http://127.0.0.1:%d", s.byID[id].DaprHTTPPort)
}

// MetricsURL is an app's daprd Prometheus endpoint.
func (s *System) MetricsURL(id string) string {
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", s.byID[id].MetricsPort)
}

// StopBroker takes the broker away, for fault injection: publishers and
// subscribers see it gone until StartBroker. It stops the embedded broker
// (NATS or Kafka, every connection closed), or for a shared one cuts the
// runner's proxy (Options.ProxyBroker).
func (s *System) StopBroker() error {
	switch {
	case s.broker != nil:
		s.broker.stop()
	case s.kafka != nil:
		s.kafka.stop()
	case s.proxy != nil:
		s.proxy.stop()
	default:
		return errors.New("this profile's broker is shared and not behind the runner's proxy (Options.ProxyBroker)")
	}
	return nil
}

// StartBroker brings the broker back: the embedded one on the same port and
// storage (its messages, consumer groups and offsets kept), or the proxy on the same port.
func (s *System) StartBroker() error {
	switch {
	case s.broker != nil:
		return s.broker.start()
	case s.kafka != nil:
		return s.kafka.start()
	case s.proxy != nil:
		return s.proxy.start()
	}
	return errors.New("this profile's broker is shared and not behind the runner's proxy (Options.ProxyBroker)")
}

// BrokerURL is the embedded NATS URL, empty when the profile has none.
func (s *System) BrokerURL() string {
	if s.broker == nil {
		return ""
	}
	return s.broker.url
}

// BrokerToken is what the embedded broker asks of a client ("" without
// one).
func (s *System) BrokerToken() string {
	if s.broker == nil {
		return ""
	}
	return s.broker.token
}

// KafkaBrokers is the embedded Kafka broker's address, empty when the
// profile has none; KafkaPassword is its SASL/SCRAM-SHA-512 password for
// KafkaUser.
func (s *System) KafkaBrokers() string {
	if s.kafka == nil {
		return ""
	}
	return s.kafka.addr
}

func (s *System) KafkaPassword() string {
	if s.kafka == nil {
		return ""
	}
	return s.kafka.password
}

// AppIDs lists the apps in run-file order.
func (s *System) AppIDs() []string {
	var ids []string
	for _, a := range s.apps {
		if a.name == a.AppID {
			ids = append(ids, a.AppID)
		}
	}
	return ids
}

// Instances lists the instances of an app: its id, then <id>#2….
func (s *System) Instances(appID string) []string {
	var names []string
	for _, a := range s.apps {
		if a.AppID == appID {
			names = append(names, a.name)
		}
	}
	return names
}

// replicas is how many instances of appID to start.
func (o Options) replicas(appID string) int {
	n := o.Replicas
	if r, ok := o.AppReplicas[appID]; ok {
		n = r
	}
	return max(n, 1)
}

// Processes maps each running process ("gateway", "gateway.daprd"...) to
// its pid.
func (s *System) Processes() map[string]int {
	out := map[string]int{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.apps {
		for _, p := range []*proc{a.app, a.dapr} {
			if p != nil && !p.exited() {
				out[p.name] = p.cmd.Process.Pid
			}
		}
	}
	return out
}

// PIDs lists the process ids of every app and sidecar still running.
func (s *System) PIDs() []int {
	var pids []int
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.apps {
		for _, p := range []*proc{a.app, a.dapr} {
			if p != nil && !p.exited() {
				pids = append(pids, p.cmd.Process.Pid)
			}
		}
	}
	return pids
}
