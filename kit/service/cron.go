package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/tracing"
)

// oneAtATime is what a cron input binding's route runs (Routes.Cron): it
// starts pass in the background for a tick whose request context is tick,
// bounded by timeout, never two passes at once (a tick that finds one
// running is skipped). ctx is the app's, so a pass ends with the app; the
// pass keeps the tick's request id and trace, so its log lines and calls
// name them.
func oneAtATime(ctx context.Context, timeout time.Duration, pass func(context.Context)) func(tick context.Context) {
	var running sync.Mutex
	return func(tick context.Context) {
		if !running.TryLock() {
			return
		}
		tickCtx := httpx.WithRequestID(ctx, httpx.RequestID(tick))
		tickCtx = tracing.With(tickCtx, tracing.From(tick))
		go func() {
			defer running.Unlock()
			passCtx, cancel := context.WithTimeout(tickCtx, timeout)
			defer cancel()
			pass(passCtx)
		}()
	}
}

// recovered runs pass, and logs a panic in it as an error instead of
// letting it end the app: the pass runs in its own goroutine, where a
// panic would kill the process, and the next tick tries again.
func recovered(log *slog.Logger, route string, pass func(context.Context)) func(context.Context) {
	return func(ctx context.Context) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "cron pass panicked; the next tick tries again", "route", route,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
		}()
		pass(ctx)
	}
}

// Relayer is an app's outboxes (kit/daprx.Outboxes).
type Relayer interface {
	Relay(ctx context.Context) (daprx.OutboxSummary, error)
}

// OutboxRelay is the pass of the cron input binding "outbox-relay":
// publish what writes left unpublished (Routes.Cron runs it one at a time).
func OutboxRelay(log *slog.Logger, r Relayer) func(context.Context) {
	return func(ctx context.Context) {
		s, err := r.Relay(ctx)
		switch {
		case err != nil:
			log.WarnContext(ctx, "outbox relay: some events not relayed yet", "published", s.Published, "failed", s.Failed,
				"reason", errs.Reason(err), "error", err)
		case s.Published > 0:
			log.InfoContext(ctx, "outbox relay", "checked", s.IDs, "published", s.Published, "confirmed", s.Confirmed)
		}
	}
}

// InstanceName names this run of app (in leases): the host (the pod's name
// in Kubernetes), the process and a random part, since a restarted
// container has the same host and process id.
func InstanceName(app string) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%s-%d-%s", app, host, os.Getpid(), httpx.NewID()[:8])
}
