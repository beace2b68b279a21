// Package errs gives errors a kind. Each transport maps kinds in one place.
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
	// Internal is the zero value, so an unclassified error is never blamed
	// on the caller.
	Internal Kind = iota
	// Invalid input will always fail the same way.
	Invalid
	Unauthorized
	Forbidden
	NotFound
	Conflict
	// Unprocessable is well formed but not acceptable, e.g. a reused
	// idempotency key.
	Unprocessable
	// Unavailable may work if tried again later.
	Unavailable
	TooManyRequests
	MethodNotAllowed
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

// Error has a message safe to show, and a cause that is only logged.
type Error struct {
	Kind    Kind
	Message string
	Cause   error
	// RetryAfter is the HTTP Retry-After.
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

// KindOf is Internal when err has no *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Public returns the message safe to show a caller.
func Public(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != Internal {
		return e.Message
	}
	return "internal error"
}

// Later makes a TooManyRequests error.
func Later(d time.Duration, format string, args ...any) error {
	return &Error{Kind: TooManyRequests, Message: fmt.Sprintf(format, args...), RetryAfter: d}
}

// RetryAfterOf returns err's RetryAfter.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// Reason is a log field or metric label: the kind, or "timeout" or "cancelled".
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

// Add ignores nil, and makes r if it was nil.
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

// Total counts all errors.
func (r Reasons) Total() int {
	n := 0
	for _, v := range r {
		n += v
	}
	return n
}
