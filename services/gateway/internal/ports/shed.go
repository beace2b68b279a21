package ports

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
)

// Shed answers 503 at once past limit, instead of queueing: without it, from
// 500 purchases/s nothing was accepted for the rest of the run. Retries carry
// an Idempotency-Key, so they never buy twice. What daprd sends is never shed.
//
// Anonymous requests get a quarter of limit: 200 anonymous sign-ins at once
// left a signed-in customer nothing but 503. A body is read before a slot is
// taken, so slow senders cannot refuse everybody else. A bad token holds
// a signed-in slot only for the microseconds it takes to refuse it.
func Shed(next http.Handler, limit int) http.Handler {
	if limit <= 0 {
		return next
	}
	signedIn := make(chan struct{}, limit)
	anonymous := make(chan struct{}, max(1, limit/4))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !customerFacing(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, httpx.MaxBodyBytes))
			if err != nil {
				httpx.WriteProblem(w, r, bodyError(err))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		slots := signedIn
		if r.Header.Get("Authorization") == "" || anonymousRoute(r.URL.Path) {
			slots = anonymous
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

func bodyError(err error) error {
	if httpx.BodyKind(err) == errs.TooLarge {
		return errs.Wrap(errs.TooLarge, err, fmt.Sprintf("request body: larger than %d bytes", httpx.MaxBodyBytes))
	}
	return errs.Wrap(errs.Invalid, err, "request body: could not be read")
}

// anonymousRoute names routes that stay anonymous even with a token.
func anonymousRoute(path string) bool {
	return path == "/user/sign-up" || path == "/user/sign-in" || path == "/user/sign-in/unlock-code"
}

func customerFacing(path string) bool {
	return strings.HasPrefix(path, "/user/") || strings.HasPrefix(path, "/voucher")
}
