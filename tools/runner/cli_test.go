package runner

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repoRoot is the repository this package is in.
var repoRoot = filepath.Join("..", "..")

// TestLoadRunFileTakesTheCLISchema: one run file serves the Dapr CLI and
// the runner, so every field of the CLI's schema loads; the ones the
// runner does not use are named, and an app's own paths are relative to its
// appDirPath, as the CLI has them.
func TestLoadRunFileTakesTheCLISchema(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "dapr.yaml"), `version: 1
name: vouchers
common:
  resourcesPaths: [./components/common]
  placementHostAddress: ""
  schedulerHostAddress: " "
  apiListenAddresses: 127.0.0.1
  runtimePath: ./runtime
  daprdLogDestination: file
  appLogDestination: console
  appHealthProbeInterval: 3
  maxBodySize: 8Mi
apps:
  - appID: gateway
    appDirPath: ./services/gateway
    appPort: 8080
    daprInternalGRPCPort: 52000
    containerImage: gateway:dev
    createService: true
    resourcesPaths: [./.dapr/resources]
    command: ["../../bin/gateway"]
  - appID: sms
    appDirPath: ./services/sms
    appHealthProbeInterval: 7
    command: ["../../bin/sms"]
`)
	rf, err := LoadRunFile(filepath.Join(dir, "dapr.yaml"))
	require.NoError(t, err)
	assert.Equal(t, []string{
		"apps[gateway].containerImage", "apps[gateway].createService", "apps[gateway].daprInternalGRPCPort",
		"common.apiListenAddresses", "common.appLogDestination", "common.daprdLogDestination",
		"common.placementHostAddress", "common.runtimePath", "common.schedulerHostAddress",
	}, rf.Ignored)
	gw, sms := rf.Apps[0], rf.Apps[1]
	assert.Equal(t, []string{filepath.Join(dir, "services/gateway/.dapr/resources")}, gw.ResourcesPaths, "an app's path is relative to its appDirPath")
	assert.Equal(t, []string{filepath.Join(dir, "components/common")}, sms.ResourcesPaths, "inherited from common")
	assert.Equal(t, 3, gw.AppHealthProbeInterval, "inherited from common")
	assert.Equal(t, 7, sms.AppHealthProbeInterval, "the app's own")
	assert.Equal(t, "8Mi", sms.MaxBodySize, "inherited from common")
}

func TestProfilesReplaceTheCLIProfile(t *testing.T) {
	c := func(p string) string { return filepath.Join("/r/components", p) }
	cli := []string{c("common"), c("cli")}
	assert.Equal(t, []string{c("common"), c("local"), c("embedded")}, withProfile(cli, "embedded"))
	assert.Equal(t, []string{c("common"), c("local"), c("redis")}, withProfile(cli, "redis"))
	assert.Equal(t, cli, withProfile(cli, CLIProfile), "the CLI profile is whole by itself")
	assert.Equal(t, []string{c("common"), c("local"), c("redis")}, withProfile([]string{c("common"), c("local"), c("embedded")}, "redis"))

	assert.Equal(t, c("config.yaml"), configFor(c("cli/config.yaml"), "embedded"), "the runner's Configuration, with placeholders")
	assert.Equal(t, c("cli/config.yaml"), configFor(c("cli/config.yaml"), CLIProfile))
	assert.Equal(t, c("config.yaml"), configFor(c("config.yaml"), "redis"))
}

// TestTheCLIProfileIsWrittenFromItsSources: components/cli is what `make
// cli-profile` writes from the redis profile, components/local and
// components/config.yaml; edit those and run it.
func TestTheCLIProfileIsWrittenFromItsSources(t *testing.T) {
	want, err := RenderCLIProfile(filepath.Join(repoRoot, "dapr.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(want), 6, "the profile has only %d files", len(want))
	dir := filepath.Join(repoRoot, "components", CLIProfile)
	files, err := resourceFiles([]string{dir})
	require.NoError(t, err)
	assert.Len(t, files, len(want), "components/cli holds files no source writes: run make cli-profile")
	for name, text := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if assert.NoError(t, err, "run make cli-profile") {
			assert.Equal(t, string(text), string(got), "components/cli/%s is stale: run make cli-profile", name)
		}
	}
	assert.Contains(t, string(want["secretstore.yaml"]), "value: ../../.data/cli/secrets.json", "paths relative to services/<app>")
	assert.Contains(t, string(want["state.yaml"]), "value: 127.0.0.1:6379", "dapr init's Redis")
}

// daprInitPorts are the host ports `dapr init` takes (dapr/cli
// pkg/standalone): Redis, Zipkin, placement and scheduler with their
// health and metrics ports, and the scheduler's etcd; and the sentry
// address the CLI assumes with mTLS (50001).
var daprInitPorts = []int{6379, 9411, 50005, 58080, 59090, 50006, 58081, 59091, 2379, 50001}

func TestTheRunFileAvoidsDaprInitsPorts(t *testing.T) {
	rf, err := LoadRunFile(filepath.Join(repoRoot, "dapr.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, rf.Apps)
	for _, a := range rf.Apps {
		for _, p := range []int{a.AppPort, a.DaprHTTPPort, a.DaprGRPCPort, a.MetricsPort} {
			assert.NotContains(t, daprInitPorts, p, "app %s: port %d is one dapr init takes", a.AppID, p)
			// Linux hands out 32768-60999 as the local ports of outgoing
			// connections: one there may be taken at any moment.
			assert.Less(t, p, 32768, "app %s: port %d is in the ephemeral range", a.AppID, p)
		}
	}
	assert.Equal(t, []string{filepath.Join(rf.Apps[0].AppDirPath, "..", "..", "components", "common"), filepath.Join(rf.Apps[0].AppDirPath, "..", "..", "components", CLIProfile)},
		rf.Apps[0].ResourcesPaths, "dapr run -f . runs the CLI profile")
}
