// Command runner starts every app of dapr.yaml beside its own daprd, on one
// component profile, and stops them all on Ctrl-C or SIGTERM. It stands in
// for `dapr run -f .` where the Dapr CLI is not installed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bankabc/vouchers/tools/runner"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runFile := fs.String("f", "dapr.yaml", "the Dapr multi-app run file")
	profile := fs.String("profile", "embedded", "component profile: the folder under components/")
	dataDir := fs.String("data-dir", ".data", "where state, broker storage, secrets and SMS files go")
	daprd := fs.String("daprd", ".bin/daprd", "the daprd binary")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for every sidecar to be healthy")
	entry := fs.String("entry", "gateway", "the app whose URL to print as the way in")
	freePorts := fs.Bool("free-ports", false, "give every app and sidecar a free port instead of dapr.yaml's")
	secrets := fs.String("make-secrets", "", "only write a secrets file (random JWT key, key id, operator token) at this path, keeping what it has, and exit")
	cliProfile := fs.String("write-cli-profile", "", "only write the Dapr CLI's profile (the redis profile, components/local and components/config.yaml with every placeholder filled in) into this folder, and exit")
	replicas := fs.Int("replicas", 1, "instances of each app but the provider fake (each with its own daprd and free ports; gateway's public port behind a round-robin balancer)")
	restart := fs.Bool("restart", true, "start an app or daprd that exits again, after 1s, 2s, 4s… up to 30s, reporting a crash loop (false: report the first exit and leave it down)")
	check := fs.Bool("check", false, "only check that the servers the profile needs answer, and exit (1 naming each one that does not)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secrets != "" {
		if err := os.MkdirAll(filepath.Dir(*secrets), 0o755); err != nil {
			return err
		}
		return runner.EnsureLocalSecrets(*secrets)
	}
	if *cliProfile != "" {
		return runner.WriteCLIProfile(*runFile, *cliProfile)
	}
	if *check {
		if err := runner.CheckProfile(*runFile, *profile); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "profile %s: every server it needs answers\n", *profile)
		return nil
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	logf := func(format string, a ...any) { fmt.Fprintf(stdout, "runner                | "+format+"\n", a...) }
	logf("profile %s, data dir %s, run file %s", *profile, *dataDir, *runFile)
	var supervise *runner.Supervision
	if *restart {
		sv := runner.DefaultSupervision()
		sv.HealthTimeout = *timeout
		supervise = &sv
	}
	sys, err := runner.Start(ctx, runner.Options{
		RunFile: *runFile, Profile: *profile, DataDir: *dataDir, Daprd: *daprd,
		Output: stdout, StartTimeout: *timeout, Logf: logf, FreePorts: *freePorts,
		Replicas: *replicas, AppReplicas: map[string]int{"voucher-provider": 1},
		Supervise: supervise,
	})
	if err != nil {
		var se *runner.StartError
		if errors.As(err, &se) {
			return fmt.Errorf("%w\n\nnothing is left running", err)
		}
		return err
	}
	defer func() {
		logf("stopping every app, sidecar and the broker")
		sys.Stop()
		logf("stopped")
	}()

	url := sys.PublicURL(*entry)
	fmt.Fprintf(stdout, `
  All %d apps and their sidecars are up (profile %s).
  %s:  %s
  Try:   curl -s -X POST %s/user/sign-up -H 'Content-Type: application/json' \
           -d '{"username":"alice","phoneNumber":"+84909123450","password":"correct horse battery"}'
  The README walks through a whole purchase. Ctrl-C stops everything.

`, len(sys.AppIDs()), *profile, *entry, url, url)

	if *restart {
		// The runner starts again whatever exits, and says so, until
		// Ctrl-C or SIGTERM.
		logf("an app or sidecar that exits is started again after 1s, 2s, 4s… (30s at most); -restart=false leaves it down")
		<-ctx.Done()
		return nil
	}
	// Report the first process to exit after start-up; the rest keep
	// running, as with the Dapr CLI, until Ctrl-C or SIGTERM.
	if msg, err := sys.Exited(ctx); err == nil {
		logf("%s", msg)
		logf("the other apps keep running; Ctrl-C stops everything")
		<-ctx.Done()
	}
	return nil
}
