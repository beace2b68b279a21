package app

import (
	"fmt"
	"time"

	"github.com/bankabc/vouchers/services/gateway/internal/domain"
)

// The customer-facing texts, in one place (those that go with a code are
// the domain's). The first three are word for word from the original
// design.
const (
	AcceptedMessage    = "Your request is being processed within 30 seconds"
	SuccessMessage     = domain.SuccessMessage
	LateSuccessMessage = domain.LateSuccessMessage
)

// Promise is what a request still processing says of itself at now: the
// acknowledgement's promise while it holds, and the truth once the
// request is older than lateAfter. A code that comes that late is a
// LATE_SUCCESS (voucher-int's LATE_AFTER, the same setting), which always
// goes by SMS; a request that gets no code ends FAILED with its reason. The
// answer's Retry-After is longer then, in seconds.
func Promise(req Request, now time.Time, lateAfter time.Duration) (message string, retryAfter int) {
	if lateAfter <= 0 || now.Sub(req.CreatedAt) < lateAfter {
		return AcceptedMessage, 2
	}
	return fmt.Sprintf("Your request, accepted at %s, is taking longer than the %s we aim for. It is still being processed: "+
		"when your voucher code is ready, it is sent to %s by SMS and shown here. If no code can be issued, the request ends FAILED with the reason.",
		req.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"), lateAfter.Round(time.Second), req.PhoneNumber), 10
}

// codeText is the SMS with a phone verification code.
func codeText(code string, ttl time.Duration) string {
	return fmt.Sprintf("Your Bank ABC verification code is %s. It expires in %s. Never share it with anyone.", code, ttl.Round(time.Second))
}

// UnlockCodeText is the SMS with a code that lifts a sign-in lock.
func UnlockCodeText(code string, ttl time.Duration) string {
	return fmt.Sprintf("Your Bank ABC sign-in unlock code is %s. It expires in %s. Someone tried many wrong passwords on your account: if it was not you, change your password after signing in. Never share this code.", code, ttl.Round(time.Second))
}

// signUpNoticeText tells a number's owner that someone signed up with it.
func signUpNoticeText() string {
	return "Someone just opened a Bank ABC vouchers account with your phone number. It cannot use your number unless it receives a code: your own account is unchanged. If it was you, sign in to your existing account instead."
}
