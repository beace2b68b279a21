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

// oneAtATime skips a tick that finds a pass running; a pass ends with the app.
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

// recovered logs a panic instead of killing the process; the next tick retries.
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

// Relayer is an app's outboxes.
type Relayer interface {
	Relay(ctx context.Context) (daprx.OutboxSummary, error)
}

// OutboxRelay is the pass of the cron input binding "outbox-relay".
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

// InstanceName is random in part: a restarted container keeps host and pid.
func InstanceName(app string) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%s-%d-%s", app, host, os.Getpid(), httpx.NewID()[:8])
}
