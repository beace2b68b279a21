// Package errs gives errors a kind. Each transport maps a kind to its own
// answer in one place: an HTTP status (httpx.WriteError) or retry-or-drop for a
// topic handler (daprx.TopicHandler).
package errs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind says what went wrong from the caller's point of view.
type Kind int

const (
	// Internal is a bug or an unexpected failure; the zero value on purpose,
	// so an error nobody classified is never mistaken for the caller's fault.
	Internal Kind = iota
	// Invalid input: the same input will always fail.
	Invalid
	Unauthorized
	Forbidden
	NotFound
	// Conflict with the current state (duplicate, already done).
	Conflict
	// Unprocessable: well formed but not acceptable (e.g. idempotency key reused
	// with a different body).
	Unprocessable
	// Unavailable: a dependency failed for now; trying again later may work.
	Unavailable
	TooManyRequests
	// MethodNotAllowed: the resource exists, not with this method.
	MethodNotAllowed
	// TooLarge: the request's body is over the size we read.
	TooLarge
)

var kindNames = map[Kind]string{
	Internal: "internal", Invalid: "invalid", Unauthorized: "unauthorized",
	Forbidden: "forbidden", NotFound: "not-found", Conflict: "conflict",
	Unprocessable: "unprocessable", Unavailable: "unavailable",
	TooManyRequests: "too-many-requests", MethodNotAllowed: "method-not-allowed",
	TooLarge: "too-large",
}

func (k Kind) String() string { return kindNames[k] }

// Error is an error with a kind, a message safe to show to the caller, and an
// optional cause that is only logged.
type Error struct {
	Kind    Kind
	Message string
	Cause   error
	// RetryAfter, when set, tells the caller when trying again may work
	// (HTTP: the Retry-After header).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// E makes an error of the given kind.
func E(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap gives cause a kind and a public message.
func Wrap(kind Kind, cause error, message string) error {
	return &Error{Kind: kind, Message: message, Cause: cause}
}

// KindOf returns the kind of the first *Error in err's chain, Internal if none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Public returns the message that may be shown to a caller.
func Public(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != Internal {
		return e.Message
	}
	return "internal error"
}

// Later makes a TooManyRequests error that may be retried after d.
func Later(d time.Duration, format string, args ...any) error {
	return &Error{Kind: TooManyRequests, Message: fmt.Sprintf(format, args...), RetryAfter: d}
}

// RetryAfterOf returns the RetryAfter of the first *Error in err's chain.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// Reason names why err happened, for a log field or a metric label: its
// kind, or "timeout" and "cancelled" for a context that ended.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return KindOf(err).String()
}

// Reasons counts errors by Reason. The zero value is ready to use.
type Reasons map[string]int

// Add counts err (nil is not counted) and returns r, made if it was nil.
func (r Reasons) Add(err error) Reasons {
	if err == nil {
		return r
	}
	if r == nil {
		r = Reasons{}
	}
	r[Reason(err)]++
	return r
}

// Total is the number of errors counted.
func (r Reasons) Total() int {
	n := 0
	for _, v := range r {
		n += v
	}
	return n
}
