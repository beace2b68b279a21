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

// Shed bounds the customer requests in progress at once: beyond limit, a
// request is answered 503 with Retry-After at once instead of queueing
// behind the others. Without it an overload past what the state store
// takes made every request wait until clients gave up (measured: from 500
// purchases/s, nothing was accepted for the rest of the run); with it the
// requests that are taken keep their latency, and a client retries the
// rest (with its Idempotency-Key, a retry never buys twice). What daprd
// sends (events, cron bindings) and health checks are never shed: daprd
// would only retry them.
//
// Requests without credentials (sign-up, sign-in: anyone can send them, as
// fast as they like) have slots of their own, a quarter of limit, so that a
// flood of them cannot take the slots of signed-in customers (measured: 200
// anonymous sign-ins at a time left a signed-in customer nothing but 503).
// Sign-up, sign-in and unlock codes always count as anonymous, whatever
// headers they carry; any other request with an Authorization header is
// refused within microseconds if its token is not valid, so it holds a
// slot of the signed-in share only that long.
//
// A request's body is read before it takes a slot: a client that sends its
// body slowly, or never finishes it, holds a connection (until the
// server's read timeout) but no slot, so a few dozen such connections
// cannot refuse everybody else.
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

// anonymousRoute: the routes anyone may call, with or without a token;
// an Authorization header does not take them into the signed-in share.
func anonymousRoute(path string) bool {
	return path == "/user/sign-up" || path == "/user/sign-in" || path == "/user/sign-in/unlock-code"
}

func customerFacing(path string) bool {
	return strings.HasPrefix(path, "/user/") || strings.HasPrefix(path, "/voucher")
}
