package intercom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// Sentinel errors matched by [Error.Is], so that callers can branch with
// errors.Is without inspecting status codes.
var (
	// ErrNotFound matches an API answer with status 404.
	ErrNotFound = errors.New("intercom: not found")
	// ErrConflict matches an API answer with status 409.
	ErrConflict = errors.New("intercom: conflict")
	// ErrRateLimited matches an API answer with status 429.
	ErrRateLimited = errors.New("intercom: rate limited")
	// ErrUnauthorized matches an API answer with status 401 (a missing,
	// invalid or revoked access token).
	ErrUnauthorized = errors.New("intercom: unauthorized")
	// ErrForbidden matches an API answer with status 403 (for example
	// api_plan_restricted).
	ErrForbidden = errors.New("intercom: forbidden")
	// ErrGone matches an API answer with status 410 (for example a merged
	// contact that could not be followed).
	ErrGone = errors.New("intercom: gone")
)

// Error is a failed Intercom API call: a response with a status outside
// 2xx. The client returns it wrapped with the method and path of the call;
// use errors.As to reach it, or errors.Is with the sentinel errors above.
//
// Error never holds the access token or anything from the request headers.
type Error struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// RequestID is Intercom's request_id, when the body carried one.
	// Quote it when asking Intercom support about a failure.
	RequestID string
	// Errors holds the items of Intercom's error list, in order.
	Errors []ErrorItem
	// RetryAfter is how long Intercom asked the client to wait, from
	// X-RateLimit-Reset or Retry-After; zero when the answer did not say.
	RetryAfter time.Duration
}

// ErrorItem is one entry of an Intercom error list.
type ErrorItem struct {
	// Code is Intercom's machine-readable code, such as "not_found",
	// "conflict", "parameter_invalid" or "contact_merged".
	Code string
	// Message is the human-readable explanation, possibly empty.
	Message string
	// Field names the request field at fault, when Intercom says.
	Field string
}

// Error describes the failure: status, then each error item, then the
// request id.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	for i, it := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(it.Code)
		if it.Field != "" {
			fmt.Fprintf(&b, " (field %s)", it.Field)
		}
		if it.Message != "" {
			b.WriteString(": " + it.Message)
		}
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request_id %s]", e.RequestID)
	}
	return b.String()
}

// Is reports whether target is the sentinel error for e's status:
// [ErrNotFound] for 404, [ErrConflict] for 409, [ErrRateLimited] for 429,
// [ErrUnauthorized] for 401, [ErrForbidden] for 403 and [ErrGone] for 410.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrGone:
		return e.StatusCode == http.StatusGone
	}
	return false
}

// HasCode reports whether one of e's error items has the given code.
func (e *Error) HasCode(code string) bool {
	for _, it := range e.Errors {
		if it.Code == code {
			return true
		}
	}
	return false
}

// retryableStatus reports whether an answer with this status is worth
// another attempt: request timeouts, rate limiting and server errors.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 && code <= 599
}

// transportError marks a failure to get an answer at all (connection
// refused or reset, a dropped connection, a timeout) as transient.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// IsRetryable reports whether err is a transient failure that may succeed
// if the same call is made again later: an [*Error] with status 408, 429 or
// 5xx, a timeout, or a failure to reach Intercom or read its answer.
// Cancellation (context.Canceled) and an expired caller deadline
// (context.DeadlineExceeded) are not retryable, nor is any other error.
func IsRetryable(err error) bool {
	var stopped *stoppedError
	if err == nil || errors.As(err, &stopped) || errors.Is(err, context.Canceled) {
		return false
	}
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return retryableStatus(apiErr.StatusCode)
	}
	var te *transportError
	if errors.As(err, &te) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false // the caller's deadline: trying again cannot help
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// IsAmbiguous reports whether err, from a call that failed, leaves open
// whether Intercom carried the request out: its answer was lost (a
// timeout, a dropped or reset connection) or is a server error that may
// come after the work was done (500, 502, 504, 408). A caller about to
// repeat a call that creates something should look first. It is false for
// nil, for 429 and 503 answers and for connections that could not be made.
func IsAmbiguous(err error) bool {
	return err != nil && !errors.Is(err, context.Canceled) && ambiguous(err)
}

// ambiguous reports whether a failed request may nevertheless have been
// carried out by Intercom: the answer was lost (a timeout, a dropped or reset
// connection) or is a server error that may come after the work was done
// (500, 502, 504, 408). A 429, a 503 and a connection that could not be made
// mean Intercom did not act on it.
func ambiguous(err error) bool {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		switch apiErr.StatusCode {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			return false
		}
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	return true
}

// transient reports whether an error from http.Client.Do (made while the
// caller's context was still live) is worth a retry.
func transient(err error) bool {
	var ne net.Error
	switch {
	case errors.As(err, &ne):
		return true // timeouts, dial and DNS failures, resets
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// wireError is the body of an error answer: schema "error" in the spec.
type wireError struct {
	Type      string  `json:"type"`
	RequestID *string `json:"request_id"`
	Errors    []struct {
		Code    string  `json:"code"`
		Message *string `json:"message"`
		Field   *string `json:"field"`
	} `json:"errors"`
}

// newError builds an *Error from a non-2xx answer. A body that is not an
// Intercom error list still yields an *Error with the status alone.
func newError(status int, body []byte) *Error {
	e := &Error{StatusCode: status}
	var w wireError
	if json.Unmarshal(body, &w) != nil {
		return e
	}
	if w.RequestID != nil {
		e.RequestID = *w.RequestID
	}
	for _, it := range w.Errors {
		item := ErrorItem{Code: it.Code}
		if it.Message != nil {
			item.Message = *it.Message
		}
		if it.Field != nil {
			item.Field = *it.Field
		}
		e.Errors = append(e.Errors, item)
	}
	return e
}
