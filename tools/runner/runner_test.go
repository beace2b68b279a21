package runner

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
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
	require.NoError(t, err)
	require.NotEmpty(t, rf.Apps)
	a := rf.Apps[0]
	assert.Equal(t, filepath.Join(dir, "services/gateway"), a.AppDirPath, "appDirPath")
	want := []string{filepath.Join(dir, "components/common"), filepath.Join(dir, "components/local"), filepath.Join(dir, "components/embedded")}
	assert.Equal(t, want, a.ResourcesPaths, "resources")
	assert.Equal(t, "debug", a.Env["LOG_LEVEL"], "the app did not override the common env")
	assert.Equal(t, filepath.Join(dir, "components/config.yaml"), a.ConfigFilePath, "the app did not inherit the common config")
	assert.Equal(t, []string{want[0], want[1], filepath.Join(dir, "components/redis")}, withProfile(a.ResourcesPaths, "redis"), "withProfile")
	assert.Equal(t, want, withProfile(a.ResourcesPaths, ""), "withProfile without a profile")
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
			_, err := LoadRunFile(p)
			assert.ErrorContains(t, err, tt.want)
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
	require.NoError(t, err)
	// A subscription's topic and dead-letter topic; a state store adds none
	// (no internal outbox topics).
	want := []string{"receive-code", "receive-code-dead"}
	assert.Equal(t, want, r.topics, "topics")
	require.NotEmpty(t, r.dirs)
	b, err := os.ReadFile(filepath.Join(r.dirs[0], "pubsub.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(b), "nats://127.0.0.1:1", "not expanded")
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
			require.Error(t, err)
			assert.Contains(t, err.Error(), "broken.yaml", "the file is not named")
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestFreePortIsOutsideTheEphemeralRangeAndNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		p, err := FreePort()
		require.NoError(t, err)
		require.GreaterOrEqual(t, p, portRangeLow)
		require.Less(t, p, 32768, "in the ephemeral range")
		require.False(t, seen[p], "port %d seen before", p)
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
	require.NoError(t, s.assignPorts())
	assert.NotEqual(t, 8080, a.publicPort, "the public port is not a free port")
	assert.NotEqual(t, a.AppPort, a.publicPort, "the public port is the app port")
	assert.Equal(t, strconv.Itoa(a.publicPort), a.appEnv(s.opts)["PUBLIC_PORT"], "PUBLIC_PORT")
	assert.Equal(t, s.AppURL("sms"), s.PublicURL("sms"), "sms has no public port: its public URL is its app URL")
	assert.True(t, strings.HasSuffix(s.PublicURL("gateway"), ":"+strconv.Itoa(a.publicPort)),
		"gateway's public URL %s is not on its public port %d", s.PublicURL("gateway"), a.publicPort)
	ea, eb := a.appEnv(s.opts), b.appEnv(s.opts)
	assert.Len(t, ea["APP_API_TOKEN"], 64, "app token")
	assert.NotEqual(t, eb["APP_API_TOKEN"], ea["APP_API_TOKEN"], "tokens not random per app")
	assert.NotEqual(t, ea["DAPR_API_TOKEN"], ea["APP_API_TOKEN"], "tokens not random per direction")
	assert.Equal(t, ea["APP_API_TOKEN"], s.AppToken("gateway"), "the accessors do not give the app's tokens")
	assert.Equal(t, ea["DAPR_API_TOKEN"], s.DaprToken("gateway"), "the accessors do not give the app's tokens")
	s.opts.AppEnv = map[string]map[string]string{"sms": {"APP_API_TOKEN": "", "ALLOW_NO_APP_TOKEN": "true"}}
	got := b.appEnv(s.opts)
	assert.Empty(t, got["APP_API_TOKEN"], "a test's env did not replace the token")
	assert.Equal(t, "true", got["ALLOW_NO_APP_TOKEN"], "a test's env did not replace the token")
}
