package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunnerCommandStopsEverythingOnCtrlC runs the command `make run` runs,
// waits for its banner, signs up through the URL it prints, sends SIGINT (what
// Ctrl-C sends) and checks that no app, sidecar or broker outlives it.
func TestRunnerCommandStopsEverythingOnCtrlC(t *testing.T) {
	dataDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "bin", "runner"), "-free-ports", "-data-dir", dataDir)
	cmd.Dir = repoRoot
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill() }()

	gatewayURL := regexp.MustCompile(`gateway:\s+(http://127\.0\.0\.1:\d+)`)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var url string
	for sc.Scan() {
		if m := gatewayURL.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
			break
		}
	}
	require.NotEmpty(t, url, "the runner never printed the gateway URL")
	go func() { _, _ = io.Copy(io.Discard, out) }()

	resp, err := http.Post(url+"/user/sign-up", "application/json",
		strings.NewReader(`{"username":"`+uniqueName("cli")+`","phoneNumber":"`+uniquePhone(0)+`","password":"`+password+`"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, "sign-up through the printed URL")
	require.GreaterOrEqual(t, len(processesMentioning(dataDir)), 10, "want 5 apps and 5 sidecars running")

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait(), "runner exit status after Ctrl-C, want 0")
	assert.Empty(t, processesMentioning(dataDir), "left running after Ctrl-C")
}
