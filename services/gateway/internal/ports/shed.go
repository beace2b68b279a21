package ports

import (
	"net/http"
	"strings"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
)

// Shed bounds the customer requests in progress at once: beyond max, a
// request is answered 503 with Retry-After at once instead of queueing
// behind the others. Without it an overload past what the state store
// takes made every request wait until clients gave up (measured: from 500
// purchases/s, nothing was accepted for the rest of the run); with it the
// requests that are taken keep their latency, and a client retries the
// rest (with its Idempotency-Key, a retry never buys twice). What daprd
// sends (events, cron bindings) and health checks are never shed: daprd
// would only retry them.
func Shed(next http.Handler, max int) http.Handler {
	if max <= 0 {
		return next
	}
	slots := make(chan struct{}, max)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !customerFacing(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			httpx.WriteProblem(w, r, errs.E(errs.Unavailable, "the service is busy: try again in a second"))
		}
	})
}

func customerFacing(path string) bool {
	return strings.HasPrefix(path, "/user/") || strings.HasPrefix(path, "/voucher")
}
