package service

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// RunFunc is an app's run: it wires the app from getenv, logs to stdout,
// and serves until ctx ends. Tests call it with an environment of their own.
type RunFunc func(ctx context.Context, getenv func(string) string, stdout io.Writer) error

// Main is an app's main. `<name> healthcheck [healthz|readyz]` asks the
// running app on APP_PORT (defaultPort when unset) and exits with the
// answer (Healthcheck). Otherwise run serves until SIGINT or SIGTERM, and
// its error ends the process with exit code 1.
func Main(name, defaultPort string, run RunFunc) {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(Healthcheck(os.Getenv, defaultPort, os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
