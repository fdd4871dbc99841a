package intercom

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// A Retry-After on a 5xx or 408 answer holds the retry back at least that
// long, however short the back-off.
func TestRetryAfterOnServerErrorIsWaitedOn(t *testing.T) {
	for _, status := range []int{503, 500, 408} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					writeRaw(w, status, errorBody("x", "busy"))
					return
				}
				writeRaw(w, 200, `{"type":"conversation","id":"1"}`)
			})
			c := newTestClient(t, srv) // back-off of milliseconds
			if _, err := c.Conversation(context.Background(), "1"); err != nil {
				t.Fatal(err)
			}
			reqs := srv.requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want 2", len(reqs))
			}
			if gap := reqs[1].At.Sub(reqs[0].At); gap < time.Second {
				t.Errorf("retried %v after a Retry-After of 1s", gap)
			}
		})
	}
}

// A Retry-After that lies past the call's deadline, or its context's, ends
// the call at once with the answer's error; the retry is not sent.
func TestRetryAfterPastDeadlineGivesUp(t *testing.T) {
	tests := []struct {
		name    string
		retry   RetryPolicy
		timeout time.Duration
		ctxErr  error // also matched; nil for none
	}{
		{"past MaxElapsed", RetryPolicy{MaxAttempts: 5, MaxElapsed: 2 * time.Second, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}, 0, nil},
		{"past the context's deadline", RetryPolicy{MaxAttempts: 5, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}, 3 * time.Second, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Retry-After", "30")
				writeRaw(w, 503, errorBody("service_unavailable", "busy"))
			})
			c := newTestClient(t, srv, WithRetry(tt.retry))
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			start := time.Now()
			err := createConv(ctx, c)
			if took := time.Since(start); took > time.Second {
				t.Errorf("gave up after %v; the Retry-After was known to be too late at once", took)
			}
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || apiErr.RetryAfter != 30*time.Second {
				t.Fatalf("err = %v, want the 503 with its Retry-After", err)
			}
			if IsAmbiguous(err) {
				t.Errorf("IsAmbiguous(%v) after a 503", err)
			}
			if tt.ctxErr != nil && !errors.Is(err, tt.ctxErr) {
				t.Errorf("err = %v, want it to match %v", err, tt.ctxErr)
			}
			if tt.ctxErr == nil && (isContextErr(err) || !IsRetryable(err)) {
				t.Errorf("err = %v: a live context's call that met a busy server should be retryable later", err)
			}
			if n := len(srv.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// With no attempt left, a Retry-After changes nothing: the answer's error
// is returned as it is.
func TestRetryAfterOnLastAttempt(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "30")
		writeRaw(w, 503, errorBody("service_unavailable", "busy"))
	})
	c := newTestClient(t, srv, WithRetry(RetryPolicy{MaxAttempts: 1}))
	_, err := c.Conversation(context.Background(), "1")
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.RetryAfter != 30*time.Second || errors.Is(err, ErrNotSent) || !IsRetryable(err) {
		t.Errorf("err = %v", err)
	}
}
