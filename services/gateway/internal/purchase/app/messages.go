package app

import (
	"fmt"
	"time"

	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// AcceptedMessage is the acknowledgement's promise, word for word from the
// original design.
const AcceptedMessage = "Your request is being processed within 30 seconds"

// Promise is the acknowledgement's promise until lateAfter. After that it
// tells the truth, with a longer Retry-After.
func Promise(req domain.Request, now time.Time, lateAfter time.Duration) (message string, retryAfter int) {
	if lateAfter <= 0 || now.Sub(req.CreatedAt) < lateAfter {
		return AcceptedMessage, 2
	}
	return fmt.Sprintf("Your request, accepted at %s, is taking longer than the %s we aim for. It is still being processed: "+
		"when your voucher code is ready, it is sent to %s by SMS and shown here. If no code can be issued, the request ends FAILED with the reason.",
		req.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"), lateAfter.Round(time.Second), req.PhoneNumber), 10
}
