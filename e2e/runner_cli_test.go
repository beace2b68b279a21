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
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
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
	if url == "" {
		t.Fatal("the runner never printed the gateway URL")
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()

	resp, err := http.Post(url+"/user/sign-up", "application/json",
		strings.NewReader(`{"username":"`+uniqueName("cli")+`","phoneNumber":"`+uniquePhone(0)+`","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("sign-up through the printed URL: %d", resp.StatusCode)
	}
	if n := len(processesMentioning(dataDir)); n < 10 {
		t.Fatalf("want 5 apps and 5 sidecars running, found %d processes", n)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("runner exited with %v after Ctrl-C, want 0", err)
	}
	if left := processesMentioning(dataDir); len(left) > 0 {
		t.Fatalf("left running after Ctrl-C: %v", left)
	}
}
