package ports

import (
	"context"
	"log/slog"
	"time"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
	purchase "github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
)

// Only gateway's sidecar calls these, on the app port. Customers reach the
// public port, where none of them exists.
const (
	receiveCodePath    = "/events/receive-code"
	deadLetterPath     = "/events/dead-letter"
	webhookSweepPath   = "/webhook-sweep"
	requestRedrivePath = "/request-redrive"
	outboxRelayPath    = "/outbox-relay"
)

// deadLetterTopics are delivered to one route (components/common).
var deadLetterTopics = []string{events.TopicRequestCode + "-dead", events.TopicReceiveCode + "-dead", events.TopicSendSMS + "-dead"}

// redrivePass is one sweep of the "request-redrive" cron binding.
func redrivePass(log *slog.Logger, r purchase.Redriver) func(context.Context) {
	return func(ctx context.Context) {
		s, err := r.Sweep(ctx)
		switch {
		case err != nil:
			log.WarnContext(ctx, "request redrive: some requests not looked at yet", "checked", s.Checked, "resent", s.Resent,
				"failed", s.Failed, "reason", errs.Reason(err), "error", err)
		case s.Resent > 0:
			log.InfoContext(ctx, "request redrive: request-code sent again", "checked", s.Checked, "resent", s.Resent)
		}
	}
}

// sweepPass is one sweep of the "webhook-sweep" cron binding.
func sweepPass(log *slog.Logger, d purchase.Deliveries, lease time.Duration) func(context.Context) {
	return func(ctx context.Context) {
		s, err := d.Sweep(ctx, lease)
		switch {
		case err != nil:
			log.WarnContext(ctx, "webhook sweep failed", "reason", errs.Reason(err), "error", err)
		case s.Attempted+s.Started+s.Deferred+s.Overdue+s.Errors.Total() > 0:
			log.InfoContext(ctx, "webhook sweep", "attempted", s.Attempted, "started", s.Started, "deferred", s.Deferred,
				"delivered", s.Delivered, "fell_back_to_sms", s.FellBack, "overdue", s.Overdue, "errors", s.Errors.Total())
		}
	}
}
