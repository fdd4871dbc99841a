package twiliosms_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/twilio/twilio-go/client"
)

func TestClassification(t *testing.T) {
	rest := func(code, status int) error {
		return fmt.Errorf("twiliosms: send: %w", &client.TwilioRestError{Code: code, Status: status, Message: "m"})
	}
	const (
		neither = iota
		permanent
		retryable
	)
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, neither},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), neither},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), retryable},
		{"invalid message", fmt.Errorf("%w: To is required", twiliosms.ErrInvalidMessage), permanent},
		{"21211", rest(21211, 400), permanent},
		{"21408", rest(21408, 400), permanent},
		{"21610", rest(21610, 400), permanent},
		{"21612", rest(21612, 400), permanent},
		{"21614", rest(21614, 400), permanent},
		{"21617", rest(21617, 400), permanent},
		{"credentials 21222", rest(21222, 400), permanent},
		{"401", rest(20003, 401), permanent},
		{"404", rest(20404, 404), permanent},
		{"21611", rest(21611, 400), retryable},
		{"20429", rest(20429, 429), retryable},
		{"429 any code", rest(0, 429), retryable},
		{"30022", rest(30022, 400), retryable},
		{"500", rest(20500, 500), retryable},
		{"503", rest(0, 503), retryable},
		{"non-JSON 502", &twiliosms.HTTPError{StatusCode: 502, Body: "<html>"}, retryable},
		{"net error", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, retryable},
		{"unexpected EOF", fmt.Errorf("x: %w", io.ErrUnexpectedEOF), retryable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, r := twiliosms.IsPermanent(tc.err), twiliosms.IsRetryable(tc.err)
			got := neither
			switch {
			case p && r:
				t.Fatal("both permanent and retryable")
			case p:
				got = permanent
			case r:
				got = retryable
			}
			if got != tc.want {
				t.Fatalf("IsPermanent=%v IsRetryable=%v", p, r)
			}
		})
	}
}

func TestErrorCode(t *testing.T) {
	if code, ok := twiliosms.ErrorCode(fmt.Errorf("a: %w", fmt.Errorf("b: %w", &client.TwilioRestError{Code: 21610}))); !ok || code != 21610 {
		t.Fatalf("got %d %v", code, ok)
	}
	for _, err := range []error{nil, errors.New("x"), &twiliosms.HTTPError{StatusCode: 500}} {
		if code, ok := twiliosms.ErrorCode(err); ok || code != 0 {
			t.Errorf("ErrorCode(%v) = %d, %v", err, code, ok)
		}
	}
	if msg := (&twiliosms.HTTPError{StatusCode: 502, Body: "<html>Bad Gateway</html>"}).Error(); !strings.Contains(msg, "502") || !strings.Contains(msg, "Bad Gateway") {
		t.Errorf("HTTPError.Error() = %q", msg)
	}
}

func TestDescribe(t *testing.T) {
	for code, want := range map[int]string{
		21610: "opted out",
		21211: "invalid",
		21408: "geographic permissions",
		21612: "cannot be reached",
		21614: "not a valid mobile",
		21617: "1600",
		30003: "unreachable",
		30004: "blocked",
		30005: "unknown",
		30006: "landline",
		30007: "filtered",
		30008: "unknown reason",
		30022: "rate limit",
		30032: "toll-free",
		30034: "not registered",
		20429: "retry",
	} {
		if got := twiliosms.Describe(code); !strings.Contains(got, want) {
			t.Errorf("Describe(%d) = %q, want it to mention %q", code, got, want)
		}
	}
	for _, code := range []int{0, -1, 1, 99999} {
		if got := twiliosms.Describe(code); got != "" {
			t.Errorf("Describe(%d) = %q, want \"\"", code, got)
		}
	}
}

func TestMaybeSent(t *testing.T) {
	rest := func(code, status int) error {
		return fmt.Errorf("twiliosms: send: %w", &client.TwilioRestError{Code: code, Status: status, Message: "m"})
	}
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	read := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"invalid message", fmt.Errorf("%w: To is required", twiliosms.ErrInvalidMessage), false},
		{"21211", rest(21211, 400), false},
		{"21610", rest(21610, 400), false},
		{"21611 queue full, retryable but refused", rest(21611, 400), false},
		{"20003", rest(20003, 401), false},
		{"20429", rest(20429, 429), false},
		{"429 any code", rest(0, 429), false},
		{"local credential check", rest(21222, 400), false},
		{"500", rest(20500, 500), true},
		{"503", rest(20503, 503), true},
		{"foreign JSON 400", rest(0, 400), true},
		{"non-JSON 502", &twiliosms.HTTPError{StatusCode: 502, Body: "<html>"}, true},
		{"non-JSON 404", &twiliosms.HTTPError{StatusCode: 404, Body: "<html>"}, true},
		{"non-JSON 429", &twiliosms.HTTPError{StatusCode: 429, Body: "slow down"}, false},
		{"dial error", fmt.Errorf("twiliosms: send: %w", dial), false},
		{"reset while reading", fmt.Errorf("twiliosms: send: %w", read), true},
		{"cancelled in flight", fmt.Errorf("twiliosms: send: %w", context.Canceled), true},
		{"deadline in flight", fmt.Errorf("twiliosms: send: %w", context.DeadlineExceeded), true},
		{"unexpected EOF", fmt.Errorf("x: %w", io.ErrUnexpectedEOF), true},
		{"something else", errors.New("answer carries no valid message SID"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := twiliosms.MaybeSent(tc.err); got != tc.want {
				t.Fatalf("MaybeSent(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
