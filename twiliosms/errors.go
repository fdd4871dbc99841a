package twiliosms

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

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
	// Body is the start of the answer's body (at most 512 bytes), as it
	// came: it may quote the request, phone numbers included, so log
	// Error's text rather than Body.
	Body string
}

// Error implements error. It quotes the start of Body with phone numbers
// masked ([MaskAddress]).
func (e *HTTPError) Error() string {
	return fmt.Sprintf("twiliosms: HTTP %d with a non-Twilio error body: %.120q", e.StatusCode, maskNumbers(e.Body))
}

// restError is how Send and Recent return Twilio's error answer: its text
// masks the phone numbers in Twilio's message, which often quotes the
// recipient ("The 'To' number +1555… is not a valid phone number"), and
// leaves out the details. It unwraps to the *client.TwilioRestError, whose
// Message and Details are as Twilio sent them.
type restError struct{ te *client.TwilioRestError }

func (e *restError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Twilio error %d (HTTP %d)", e.te.Code, e.te.Status)
	if e.te.Message != "" {
		b.WriteString(": ")
		b.WriteString(maskNumbers(e.te.Message))
	}
	if e.te.MoreInfo != "" {
		b.WriteString(" (")
		b.WriteString(maskNumbers(e.te.MoreInfo))
		b.WriteString(")")
	}
	return b.String()
}

func (e *restError) Unwrap() error { return e.te }

// transportError is a request that got no usable answer (a connection
// refused, reset or timed out, a context done in flight), named by the URL
// the request went to without its query, so neither Twilio's host when
// WithBaseURL rewrote it nor a recipient in the query shows.
type transportError struct {
	method string // as in *url.Error: "Post", "Get"
	target string
	err    error
}

func (e *transportError) Error() string {
	return e.method + " " + e.target + ": " + maskNumbers(e.err.Error())
}

func (e *transportError) Unwrap() error { return e.err }

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
	CodeTooManyRequests: true,
	CodeQueueFull:       true,
	30001:               true, // Queue overflow
	30022:               true, // US A2P 10DLC rate limits exceeded
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
// message: [MaybeSent] tells. It is false for nil, for a cancelled
// context and for permanent errors.
func IsRetryable(err error) bool { return classify(err) == classRetryable }

// IsPermanent reports whether the failed send err will fail the same way
// however often it is retried: invalid messages ([ErrInvalidMessage]),
// invalid or unreachable recipients (21211, 21612, 21614), opted-out
// recipients (21610), geographic permissions (21408), authentication and
// every other 4xx Twilio answer except those [IsRetryable] names. It is
// false for nil and for a cancelled context.
func IsPermanent(err error) bool { return classify(err) == classPermanent }

// IsOptedOut reports whether the failed send err is Twilio's refusal to
// text a recipient who opted out ([CodeOptedOut], 21610). For the code of
// a status callback, compare with CodeOptedOut.
func IsOptedOut(err error) bool {
	code, ok := ErrorCode(err)
	return ok && code == CodeOptedOut
}

// notSentError marks an error that happened before any request left the
// Client, such as a context already done: nothing reached Twilio.
type notSentError struct{ err error }

func (e *notSentError) Error() string { return e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// MaybeSent reports whether the failed send err may nevertheless have
// created the message at Twilio, so that sending it again risks a duplicate
// text. It is true when the request may have reached Twilio but its answer
// was lost or unusable: a timeout, a context cancelled while the request was
// in flight, a dropped connection, an answer that could not be read or
// made no sense; and when the answer was a server error (a 5xx, or any
// error answer that is not Twilio's JSON error object except a 429, such as
// a proxy's page). It is false when Twilio certainly did not create the
// message: for nil (the send succeeded and its SID is known), for invalid
// messages ([ErrInvalidMessage]), for a context done before the request
// was made, for a connection that could not be opened (nothing was sent),
// and for Twilio's own refusals: every 4xx answer carrying Twilio's error
// object, 429 / [CodeTooManyRequests] included, and a 429 of any shape.
//
// A caller that gets true can look for the message with [Client.Recent]
// before sending it again. MaybeSent is independent of [IsRetryable]: a
// timeout is both, a 21611 refusal is retryable but certainly not sent.
func MaybeSent(err error) bool {
	if err == nil || errors.Is(err, ErrInvalidMessage) {
		return false
	}
	var ns *notSentError
	if errors.As(err, &ns) {
		return false
	}
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		if te.Status == http.StatusTooManyRequests {
			return false
		}
		// Any JSON object decodes as a TwilioRestError; only one with a
		// code is Twilio's refusal.
		return te.Code == 0 || te.Status < 400 || te.Status >= 500
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode != http.StatusTooManyRequests
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false // no connection, so no request
	}
	return true
}
