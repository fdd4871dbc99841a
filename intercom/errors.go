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

	"github.com/smsrelay/smsrelay/internal/mask"
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

// ErrTooManyResults matches the error of a list that would read more than
// the client's bound on pages ([Client.ContactNotes]): the answer would
// lack some results, so none is given.
var ErrTooManyResults = errors.New("intercom: too many results")

// ErrNotSent matches the error of a call that ended before sending its
// request, or before sending it again after a failed attempt: Intercom never
// saw the attempt that was not sent. That happens when the call's context
// ended while it waited (for the limiter, Intercom's rate-limit reset, an
// answer's Retry-After or a connection); when such a wait would end after
// the context's deadline or the call's [RetryPolicy.MaxElapsed], in which
// case the call returns at once rather than wait in vain; when the limiter
// failed; and when the request could not be encoded.
//
// Such an error also matches the context's error when the context caused
// it (context.Canceled, or context.DeadlineExceeded also when the deadline
// has yet to pass but comes before the request could go), and wraps the
// error of the call's previous attempt, if any, so that errors.As reaches an
// [*Error] it carried. [IsAmbiguous] is false for it unless that previous
// attempt was ambiguous, which only a call that creates nothing retries
// after. [IsRetryable] is false when the context caused it, true when a
// wait would outlast MaxElapsed (the budget or Intercom was only busy), and
// otherwise what it says of the limiter's error.
var ErrNotSent = errors.New("intercom: request not sent")

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
	// X-RateLimit-Reset (429 answers only) or Retry-After; zero when the
	// answer did not say. The client's own retries wait at least this long.
	RetryAfter time.Duration
	// CanonicalContactID is the contact the answer's
	// Link: </contacts/{id}>; rel="canonical" header names, "" when it
	// carried none. On a 410 contact_merged answer it is the contact the
	// requested one was merged into; see [MergedInto].
	CanonicalContactID string
}

// ErrorItem is one entry of an Intercom error list.
type ErrorItem struct {
	// Code is Intercom's machine-readable code, such as "not_found",
	// "conflict", "parameter_invalid" or "contact_merged".
	Code string
	// Message is the human-readable explanation, possibly empty, exactly
	// as Intercom sent it. It may contain personal data: Intercom can echo
	// values of the request, such as a phone number. [Error.Error] prints
	// it with such numbers masked; log Message itself only with care.
	Message string
	// Field names the request field at fault, when Intercom says.
	Field string
}

// Error describes the failure: status, then each error item, then the
// request id. In the items' messages, every number of six digits or more
// that stands on its own (a phone number, say, possibly written with
// spaces, dashes or brackets, or led by "+") is replaced with "[number]",
// a dotted IPv4 address excepted; the items themselves keep Intercom's
// text.
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
			b.WriteString(": " + maskNumbers(it.Message))
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

// MergedInto reports whether err is, or wraps, Intercom's answer that a
// contact was merged into another (410 Gone, code contact_merged, with a
// Link header naming the canonical contact), and returns the canonical
// contact's id. A 410 without such a link (or with another error code)
// reports false: the caller must then find the contact another way, as
// after a 404 for a contact an agent merged.
func MergedInto(err error) (string, bool) {
	var e *Error
	if err == nil || !errors.As(err, &e) || e.StatusCode != http.StatusGone || e.CanonicalContactID == "" {
		return "", false
	}
	if len(e.Errors) > 0 && !e.HasCode("contact_merged") {
		return "", false
	}
	return e.CanonicalContactID, true
}

// retryableStatus reports whether an answer with this status is worth
// another attempt: request timeouts, rate limiting and server errors.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 && code <= 599
}

// transportError marks a failure to get an answer at all (connection
// refused or reset, a dropped connection, a timeout) as transient.
type transportError struct {
	err error
	// notSent records that the transport failed while still getting a
	// connection: the request cannot have reached Intercom.
	notSent bool
}

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// notSentError reports a call that ended before sending its request, or
// before sending it again; see [ErrNotSent].
type notSentError struct {
	method, path string
	attempts     int    // attempts sent before
	reason       string // why the request was not sent
	cause        error  // the context's error, a limiter's error or nil
	last         error  // the error of the previous attempt, or nil
}

func (e *notSentError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "intercom: %s %s: not sent: %s", e.method, e.path, e.reason)
	if e.cause != nil {
		b.WriteString(": " + e.cause.Error())
	}
	if e.last != nil {
		fmt.Fprintf(&b, "; attempt %d failed: %v", e.attempts, e.last)
	}
	return b.String()
}

func (e *notSentError) Unwrap() []error {
	errs := []error{ErrNotSent}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	if e.last != nil {
		errs = append(errs, e.last)
	}
	return errs
}

// retryable reports whether the same call may succeed later.
func (e *notSentError) retryable() bool {
	switch {
	case e.cause == nil:
		return true // a wait past MaxElapsed: the budget was busy
	case isContextErr(e.cause):
		return false
	default:
		return IsRetryable(e.cause)
	}
}

// inFlightError reports a request whose context ended after it may have
// reached Intercom, before the answer came: Intercom may have acted on it.
// It matches the context's error.
type inFlightError struct{ err error }

func (e *inFlightError) Error() string {
	return e.err.Error() + " after the request may have reached Intercom; it may have taken effect"
}

func (e *inFlightError) Unwrap() error { return e.err }

// IsRetryable reports whether err is a transient failure that may succeed
// if the same call is made again later: an [*Error] with status 408, 429 or
// 5xx, a timeout, a failure to reach Intercom or read its answer, or a call
// not sent because the request budget stayed busy past
// [RetryPolicy.MaxElapsed]. Cancellation (context.Canceled) and an expired
// caller deadline (context.DeadlineExceeded), even one that ended a request
// in flight, are not retryable, nor is any other error.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var ns *notSentError
	if errors.As(err, &ns) {
		return ns.retryable()
	}
	var inFlight *inFlightError
	if errors.As(err, &inFlight) || errors.Is(err, context.Canceled) {
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
// whether Intercom carried the request out, so that a caller about to
// repeat a call that creates something should look first. It is true when
// the answer was lost (a timeout, a dropped or reset connection), when the
// answer is a server error that may come after the work was done (500, 502,
// 504, 408), and when the call's context was cancelled or ran out while the
// request was in flight: once the transport held a connection for it, bytes
// may have reached Intercom. Such a cancelled call's error still matches
// context.Canceled or context.DeadlineExceeded.
//
// It is false for nil, for 429 and 503 answers, for connections that could
// not be made, for a request whose context ended before it was sent (while
// waiting for the limiter, the rate-limit hold or a connection) and for
// every error matching [ErrNotSent], unless an earlier attempt of the same
// call was itself ambiguous (only calls that create nothing are retried
// after one). A transport that reports no connection events through
// net/http/httptrace makes every cancelled request ambiguous.
func IsAmbiguous(err error) bool {
	return err != nil && ambiguous(err)
}

// ambiguous reports whether a failed request may nevertheless have been
// carried out by Intercom; see IsAmbiguous.
func ambiguous(err error) bool {
	var ns *notSentError
	if errors.As(err, &ns) {
		return ns.last != nil && ambiguous(ns.last)
	}
	if errors.Is(err, ErrNotSent) {
		return false // wrapped by a caller that never sent it (a budget of its own)
	}
	var inFlight *inFlightError
	if errors.As(err, &inFlight) {
		return true
	}
	var apiErr *Error
	if errors.As(err, &apiErr) {
		switch apiErr.StatusCode {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			return false
		}
		return true
	}
	var te *transportError
	if errors.As(err, &te) && te.notSent {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	if te == nil && isContextErr(err) {
		// A bare context error: the client checks the context before
		// sending and reports a request in flight as inFlightError.
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

// maskedNumber stands for a number removed from an error message.
const maskedNumber = "[number]"

// messagePolicy is how errors mask the numbers Intercom's messages may
// echo: every run of six digits or more, possibly led by "+" or "(" and
// broken by spaces, dots, dashes, slashes or brackets ("15551234567",
// "+1 (555) 123-4567", "0044 7700 900123"), that stands on its own (not
// glued to letters or digits, as the digits inside a hex id or a word are)
// becomes maskedNumber, so that a phone number Intercom echoes in an error
// message does not reach logs.
var messagePolicy = mask.Policy{MinDigits: 6, Bare: mask.Words, Mask: mask.Replace(maskedNumber)}

// maskNumbers masks the numbers in s (see messagePolicy).
func maskNumbers(s string) string { return mask.Numbers(s, messagePolicy) }

// redactedError masks numbers (see maskNumbers) in the message of the
// error it wraps, such as a JSON decoding error that quotes a value of the
// answer; errors.Is and errors.As see the original.
type redactedError struct{ err error }

func (e *redactedError) Error() string { return maskNumbers(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }
