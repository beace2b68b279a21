package service

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// RunFunc wires and serves an app until ctx ends. Tests call it too.
type RunFunc func(ctx context.Context, getenv func(string) string, stdout io.Writer) error

// Main runs until SIGINT or SIGTERM, or does `<name> healthcheck`.
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
