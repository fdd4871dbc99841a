package twiliosms

import (
	"context"
	"errors"
	"fmt"

	"github.com/twilio/twilio-go/client"
)

// ErrInvalidMessage is wrapped by every error [Message.Validate] (and so
// [Client.Send]) returns for a message that must not be sent as it is.
// Such errors are permanent.
var ErrInvalidMessage = errors.New("twiliosms: invalid message")

// HTTPError is an error answer from the Messages API (or something in front
// of it, such as a proxy) whose body is not Twilio's JSON error object, so
// twilio-go could not turn it into a *client.TwilioRestError.
type HTTPError struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Body is the start of the answer's body (at most 512 bytes).
	Body string
}

// Error implements error.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("twiliosms: HTTP %d with a non-Twilio error body: %.120q", e.StatusCode, e.Body)
}

// ErrorCode returns the Twilio error code carried by err (for example 21610
// for an opted-out recipient) and true, or 0 and false when err does not
// wrap a *client.TwilioRestError.
func ErrorCode(err error) (int, bool) {
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		return te.Code, true
	}
	return 0, false
}

// class is the single decision IsPermanent and IsRetryable report on.
type class int

const (
	classNone class = iota // nil or cancelled: neither
	classRetryable
	classPermanent
)

// Twilio error codes whose failure is worth retrying later even though they
// come with a 4xx status.
var retryableCodes = map[int]bool{
	20429: true, // Too Many Requests
	21611: true, // From number's queue is full
	30001: true, // Queue overflow
	30022: true, // US A2P 10DLC rate limits exceeded
}

func classify(err error) class {
	switch {
	case err == nil:
		return classNone
	case errors.Is(err, context.Canceled):
		return classNone
	case errors.Is(err, ErrInvalidMessage):
		return classPermanent
	}
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		switch {
		case retryableCodes[te.Code]:
			return classRetryable
		case te.Status == 429 || te.Status >= 500:
			return classRetryable
		default:
			// 21211, 21408, 21610, 21612, 21614, 21617, authentication
			// (20003) and every other 4xx: the same request fails again.
			return classPermanent
		}
	}
	var he *HTTPError
	if errors.As(err, &he) {
		// An answer Twilio's API did not shape: a proxy, a load balancer
		// or an outage page. Worth another try.
		return classRetryable
	}
	// Timeouts, network errors and anything else that happened between us
	// and Twilio (connection reset, truncated answer, ...): not known to
	// be final.
	return classRetryable
}

// IsRetryable reports whether the failed send err may succeed if tried
// again later: Twilio's 429 (code 20429), 5xx answers, 21611 (the From
// number's queue is full), error answers that are not Twilio's JSON, network
// errors and timeouts. A timed-out request may nevertheless have created the
// message (see [Client.Send]). It is false for nil, for a cancelled
// context and for permanent errors.
func IsRetryable(err error) bool { return classify(err) == classRetryable }

// IsPermanent reports whether the failed send err will fail the same way
// however often it is retried: invalid messages ([ErrInvalidMessage]),
// invalid or unreachable recipients (21211, 21612, 21614), opted-out
// recipients (21610), geographic permissions (21408), authentication and
// every other 4xx Twilio answer except those [IsRetryable] names. It is
// false for nil and for a cancelled context.
func IsPermanent(err error) bool { return classify(err) == classPermanent }
