package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/bankabc/vouchers/tools/runner"
)

// variant writes a copy of dapr.yaml (paths made absolute) after edit has
// changed it, with its own copy of the embedded profile's folders (common,
// local, embedded) and Configuration in place of the CLI's profile, and
// returns the run file's path and the copied embedded profile's folder.
func variant(t *testing.T, edit func(*runner.RunFile)) (runFile, profileDir string) {
	t.Helper()
	dir := t.TempDir()
	rf, err := runner.LoadRunFile(filepath.Join(repoRoot, "dapr.yaml"))
	require.NoError(t, err)
	var paths []string
	for _, p := range []string{"common", "local", "embedded"} {
		dst := filepath.Join(dir, "components", p)
		require.NoError(t, os.CopyFS(dst, os.DirFS(filepath.Join(repoRoot, "components", p))))
		paths = append(paths, dst)
	}
	config, err := os.ReadFile(filepath.Join(repoRoot, "components", "config.yaml"))
	require.NoError(t, err)
	rf.Common.ConfigFilePath = filepath.Join(dir, "components", "config.yaml")
	require.NoError(t, os.WriteFile(rf.Common.ConfigFilePath, config, 0o644))
	rf.Common.ResourcesPaths = paths
	for i := range rf.Apps {
		rf.Apps[i].ResourcesPaths = nil
		rf.Apps[i].ConfigFilePath = ""
		rf.Apps[i].Env = nil
	}
	edit(rf)
	b, err := yaml.Marshal(rf)
	require.NoError(t, err)
	runFile = filepath.Join(dir, "dapr.yaml")
	require.NoError(t, os.WriteFile(runFile, b, 0o644))
	return runFile, filepath.Join(dir, "components", "embedded")
}

// startVariant starts a run file expecting failure, and checks that no
// process of it is left: every daprd names the data dir in its arguments.
func startVariant(t *testing.T, runFile string, freePorts bool) error {
	t.Helper()
	dataDir := t.TempDir()
	done := make(chan error, 1)
	go func() {
		s, err := runner.Start(context.Background(), runner.Options{
			RunFile: runFile, DataDir: dataDir, Daprd: filepath.Join(repoRoot, ".bin", "daprd"),
			FreePorts: freePorts, Output: &strings.Builder{}, StartTimeout: 2 * time.Minute,
		})
		if s != nil {
			s.Stop()
		}
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("start-up neither succeeded nor failed: it hangs")
	}
	require.Empty(t, processesMentioning(dataDir), "processes left behind")
	return err
}

// processesMentioning lists the command lines of live processes that name s
// in their arguments (daprd: its resources) or environment (apps: DATA_DIR).
func processesMentioning(s string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil || e.Name() == strconv.Itoa(os.Getpid()) {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if strings.Contains(string(cmd), s) || strings.Contains(string(env), s) {
			out = append(out, strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
	return out
}

func TestStartUpFailuresNameTheCulprit(t *testing.T) {
	t.Run("bad_component_yaml", func(t *testing.T) {
		rf, profile := variant(t, func(*runner.RunFile) {})
		require.NoError(t, os.WriteFile(filepath.Join(profile, "broken.yaml"), []byte("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: [name: oops\n"), 0o644))
		err := startVariant(t, rf, true)
		require.ErrorContains(t, err, "broken.yaml", "want the broken file named")
		assert.ErrorContains(t, err, "bad resource YAML")
	})

	t.Run("profile_server_missing", func(t *testing.T) {
		rf, profile := variant(t, func(*runner.RunFile) {})
		port, err := runner.FreePort() // nothing listens there
		require.NoError(t, err)
		dead := "127.0.0.1:" + strconv.Itoa(port)
		store := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: far-store\nspec:\n  type: state.redis\n  version: v1\n  metadata:\n    - name: redisHost\n      value: " + dead + "\nscopes: [gateway]\n"
		require.NoError(t, os.WriteFile(filepath.Join(profile, "far-store.yaml"), []byte(store), 0o644))
		err = startVariant(t, rf, true)
		var se *runner.StartError
		require.ErrorAs(t, err, &se, "want the missing redis named with the component that needs it")
		assert.ErrorContains(t, err, "redis at "+dead, "want the missing redis named with the component that needs it")
		assert.ErrorContains(t, err, "far-store", "want the missing redis named with the component that needs it")
		assert.ErrorContains(t, err, "does not answer", "want the missing redis named with the component that needs it")
	})

	t.Run("component_daprd_cannot_load", func(t *testing.T) {
		rf, profile := variant(t, func(*runner.RunFile) {})
		bad := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: broken-store\nspec:\n  type: state.nosuchstore\n  version: v1\nscopes: [gateway]\n"
		require.NoError(t, os.WriteFile(filepath.Join(profile, "broken-store.yaml"), []byte(bad), 0o644))
		err := startVariant(t, rf, true)
		var se *runner.StartError
		require.ErrorAs(t, err, &se, "want gateway.daprd named with its log about broken-store")
		assert.Equal(t, "gateway.daprd", se.Process, "err %v, want gateway.daprd named with its log about broken-store", err)
		assert.Contains(t, se.Lines, "broken-store", "err %v, want gateway.daprd named with its log about broken-store", err)
	})

	t.Run("component_fails_and_daprd_goes_on", func(t *testing.T) {
		// ignoreErrors: daprd logs the failure, skips the component and
		// reports healthy; the runner refuses to call that a start.
		rf, profile := variant(t, func(*runner.RunFile) {})
		bad := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: bad-cron\nspec:\n  type: bindings.cron\n  version: v1\n  ignoreErrors: true\n  metadata:\n    - name: schedule\n      value: \"not a schedule\"\nscopes: [sms]\n"
		require.NoError(t, os.WriteFile(filepath.Join(profile, "bad-cron.yaml"), []byte(bad), 0o644))
		err := startVariant(t, rf, true)
		var se *runner.StartError
		require.ErrorAs(t, err, &se, "want sms.daprd named with the component it went on without")
		assert.Equal(t, "sms.daprd", se.Process, "err %v", err)
		assert.Contains(t, se.Lines, "bad-cron", "err %v", err)
	})

	t.Run("port_taken", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		taken := ln.Addr().(*net.TCPAddr).Port
		rf, _ := variant(t, func(rf *runner.RunFile) {
			for i := range rf.Apps { // fixed ports, free but for gateway's
				a := &rf.Apps[i]
				a.AppPort, a.DaprHTTPPort, a.DaprGRPCPort, a.MetricsPort = 0, 0, 0, 0
				if a.AppID == "gateway" {
					a.AppPort = taken
				}
			}
		})
		err = startVariant(t, rf, false)
		var se *runner.StartError
		require.ErrorAs(t, err, &se, "want gateway and port %d named", taken)
		assert.Equal(t, "gateway", se.Process, "err %v, want gateway and port %d named", err, taken)
		assert.Contains(t, se.Reason, strconv.Itoa(taken), "err %v, want gateway and port %d named", err, taken)
	})

	t.Run("app_exits_at_start", func(t *testing.T) {
		rf, _ := variant(t, func(rf *runner.RunFile) {
			for i := range rf.Apps {
				if rf.Apps[i].AppID == "sms" {
					rf.Apps[i].Command = []string{"sh", "-c", "echo 'sms: cannot read config' >&2; exit 3"}
				}
			}
		})
		err := startVariant(t, rf, true)
		var se *runner.StartError
		require.ErrorAs(t, err, &se, "want sms named with its exit status and last lines")
		assert.Equal(t, "sms", se.Process, "err %v, want sms named with its exit status and last lines", err)
		assert.Contains(t, se.Reason, "exit status 3", "err %v, want sms named with its exit status and last lines", err)
		assert.Contains(t, se.Lines, "cannot read config", "err %v, want sms named with its exit status and last lines", err)
	})
}
