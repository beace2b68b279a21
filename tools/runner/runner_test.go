package runner

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRunFileResolvesPathsAndInheritsCommon(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "dapr.yaml"), `version: 1
common:
  resourcesPaths: [./components/common, ./components/local, ./components/embedded]
  configFilePath: ./components/config.yaml
  env:
    LOG_LEVEL: info
apps:
  - appID: gateway
    appDirPath: ./services/gateway
    appPort: 8080
    command: ["../../bin/gateway"]
    env:
      LOG_LEVEL: debug
`)
	rf, err := LoadRunFile(filepath.Join(dir, "dapr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	a := rf.Apps[0]
	if a.AppDirPath != filepath.Join(dir, "services/gateway") {
		t.Fatalf("appDirPath %s", a.AppDirPath)
	}
	want := []string{filepath.Join(dir, "components/common"), filepath.Join(dir, "components/local"), filepath.Join(dir, "components/embedded")}
	if !reflect.DeepEqual(a.ResourcesPaths, want) {
		t.Fatalf("resources %v", a.ResourcesPaths)
	}
	if a.Env["LOG_LEVEL"] != "debug" || a.ConfigFilePath != filepath.Join(dir, "components/config.yaml") {
		t.Fatalf("app did not override env or inherit config: %+v", a)
	}
	if got := withProfile(a.ResourcesPaths, "redis"); got[0] != want[0] || got[1] != want[1] || got[2] != filepath.Join(dir, "components/redis") {
		t.Fatalf("withProfile %v", got)
	}
}

func TestLoadRunFileRejectsMistakes(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"unknown_field", "version: 1\napps:\n  - appID: a\n    command: [x]\n    appPrt: 1\n", "appPrt"},
		{"duplicate_app", "version: 1\napps:\n  - appID: a\n    command: [x]\n  - appID: a\n    command: [x]\n", "twice"},
		{"no_command", "version: 1\napps:\n  - appID: a\n", "no command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "dapr.yaml")
			write(t, p, tt.text)
			if _, err := LoadRunFile(p); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestRenderExpandsChecksAndFindsTopics(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "pubsub.yaml"), `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.jetstream
  version: v1
  metadata:
    - name: natsURL
      value: ${NATS_URL}
`)
	write(t, filepath.Join(src, "store.yaml"), `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: gateway-store
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: busyTimeout
      value: 5s
scopes: [gateway]
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: receive-code
spec:
  topic: receive-code
  deadLetterTopic: receive-code-dead
  pubsubname: pubsub
  routes:
    default: /events/receive-code
`)
	out := t.TempDir()
	r, err := renderResources([]string{src}, out, map[string]string{"NATS_URL": "nats://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	// A subscription's topic and dead-letter topic; a state store adds none
	// (no internal outbox topics).
	want := []string{"receive-code", "receive-code-dead"}
	if !reflect.DeepEqual(r.topics, want) {
		t.Fatalf("topics %v, want %v", r.topics, want)
	}
	b, _ := os.ReadFile(filepath.Join(r.dirs[0], "pubsub.yaml"))
	if !strings.Contains(string(b), "nats://127.0.0.1:1") {
		t.Fatalf("not expanded:\n%s", b)
	}
}

func TestRenderNamesTheBadFile(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"yaml_syntax", "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: [name: x\n", "bad resource YAML"},
		{"no_type", "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\nspec: {}\n", "no spec.type"},
		{"unset_placeholder", "apiVersion: v1\nkind: Component\nmetadata:\n  name: ${NOPE_NOT_SET}\n", "${NOPE_NOT_SET}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			write(t, filepath.Join(src, "broken.yaml"), tt.text)
			_, err := renderResources([]string{src}, t.TempDir(), map[string]string{})
			if err == nil || !strings.Contains(err.Error(), "broken.yaml") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want the file named and %q", err, tt.want)
			}
		})
	}
}

func TestFreePortIsOutsideTheEphemeralRangeAndNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if p < portRangeLow || p >= 32768 || seen[p] {
			t.Fatalf("port %d (seen before: %v)", p, seen[p])
		}
		seen[p] = true
	}
}

// TestEachAppGetsItsOwnTokensAndItsPublicPort: random tokens per app, the
// same pair for the app and its daprd; a caller's env may replace them;
// PUBLIC_PORT becomes a free port like the others.
func TestEachAppGetsItsOwnTokensAndItsPublicPort(t *testing.T) {
	a := &appRun{App: App{AppID: "gateway", AppConfig: AppConfig{Env: map[string]string{"PUBLIC_PORT": "8080"}}},
		appToken: randomToken(), daprToken: randomToken(), publicPort: 8080}
	b := &appRun{App: App{AppID: "sms"}, appToken: randomToken(), daprToken: randomToken()}
	s := &System{opts: Options{FreePorts: true}, apps: []*appRun{a, b}, byID: map[string]*appRun{"gateway": a, "sms": b}}
	if err := s.assignPorts(); err != nil {
		t.Fatal(err)
	}
	if a.publicPort == 8080 || a.publicPort == a.AppPort || a.appEnv(s.opts)["PUBLIC_PORT"] != strconv.Itoa(a.publicPort) {
		t.Fatalf("public port %d, app port %d, env %q", a.publicPort, a.AppPort, a.appEnv(s.opts)["PUBLIC_PORT"])
	}
	if s.PublicURL("sms") != s.AppURL("sms") || !strings.HasSuffix(s.PublicURL("gateway"), ":"+strconv.Itoa(a.publicPort)) {
		t.Fatalf("public URLs %s %s", s.PublicURL("gateway"), s.PublicURL("sms"))
	}
	ea, eb := a.appEnv(s.opts), b.appEnv(s.opts)
	if len(ea["APP_API_TOKEN"]) != 64 || ea["APP_API_TOKEN"] == eb["APP_API_TOKEN"] || ea["APP_API_TOKEN"] == ea["DAPR_API_TOKEN"] {
		t.Fatalf("tokens not random per app and direction: %q %q %q", ea["APP_API_TOKEN"], eb["APP_API_TOKEN"], ea["DAPR_API_TOKEN"])
	}
	if s.AppToken("gateway") != ea["APP_API_TOKEN"] || s.DaprToken("gateway") != ea["DAPR_API_TOKEN"] {
		t.Fatal("the accessors do not give the app's tokens")
	}
	s.opts.AppEnv = map[string]map[string]string{"sms": {"APP_API_TOKEN": "", "ALLOW_NO_APP_TOKEN": "true"}}
	if got := b.appEnv(s.opts); got["APP_API_TOKEN"] != "" || got["ALLOW_NO_APP_TOKEN"] != "true" {
		t.Fatalf("a test's env did not replace the token: %v", got)
	}
}
