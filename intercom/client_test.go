package intercom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestNewClientValidation(t *testing.T) {
	tests := []struct {
		name  string
		token string
		opts  []Option
		want  string // substring of the error; "" for success
	}{
		{"ok defaults", "t", nil, ""},
		{"empty token", "", nil, "empty access token"},
		{"blank token", "  ", nil, "empty access token"},
		{"token with newline", "a\nb", nil, "whitespace"},
		{"EU", "t", []Option{WithBaseURL(EUBaseURL)}, ""},
		{"AU", "t", []Option{WithBaseURL(AUBaseURL)}, ""},
		{"test URL with path", "t", []Option{WithBaseURL("http://127.0.0.1:9/prefix/")}, ""},
		{"no scheme", "t", []Option{WithBaseURL("api.intercom.io")}, "scheme"},
		{"ftp", "t", []Option{WithBaseURL("ftp://x")}, "scheme"},
		{"no host", "t", []Option{WithBaseURL("https://")}, "no host"},
		{"query", "t", []Option{WithBaseURL("https://x/?a=1")}, "query"},
		{"nil http client", "t", []Option{WithHTTPClient(nil)}, "nil *http.Client"},
		{"empty version", "t", []Option{WithVersion("")}, "invalid version"},
		{"version with newline", "t", []Option{WithVersion("2.16\r\nX: y")}, "invalid version"},
		{"negative retry", "t", []Option{WithRetry(RetryPolicy{MaxAttempts: -1})}, "negative"},
		{"nil option", "t", []Option{nil}, "option 0 is nil"},
		{"nil limiter ok", "t", []Option{WithLimiter(nil)}, ""},
		{"nil logger ok", "t", []Option{WithLogger(nil)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.token, tt.opts...)
			if tt.want == "" {
				if err != nil || c == nil {
					t.Fatalf("NewClient: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewClient error = %v, want it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "intercom: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestNewClientDefaults(t *testing.T) {
	c, err := NewClient("t")
	if err != nil {
		t.Fatal(err)
	}
	if c.base.String() != USBaseURL {
		t.Errorf("base = %s, want %s", c.base, USBaseURL)
	}
	if c.version != "2.16" {
		t.Errorf("version = %s", c.version)
	}
	if c.http == http.DefaultClient || c.http.Timeout != DefaultTimeout {
		t.Errorf("default http client not own or timeout %v", c.http.Timeout)
	}
	wl, ok := c.Limiter().(*WindowLimiter)
	if !ok {
		t.Fatalf("default limiter is %T", c.Limiter())
	}
	if n, w := wl.Limit(); n != 83 || w != 10*time.Second {
		t.Errorf("default limit %d per %v", n, w)
	}
	if c.retry != DefaultRetryPolicy() {
		t.Errorf("retry = %+v", c.retry)
	}
	c2, _ := NewClient("t", WithRetry(RetryPolicy{MaxAttempts: 1}))
	if c2.retry.MaxAttempts != 1 || c2.retry.MaxInterval != DefaultRetryPolicy().MaxInterval {
		t.Errorf("partial policy not completed with defaults: %+v", c2.retry)
	}
}

func TestRequestHeaders(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"conversation","id":"1"}`)
	})
	c := newTestClient(t, srv, WithVersion("2.14"))
	ctx := context.Background()
	if _, err := c.Conversation(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Open(ctx, "1", "7"); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	for i, r := range reqs {
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			t.Errorf("request %d: Authorization = %q", i, got)
		}
		if got := r.Header.Get("Accept"); got != "application/json" {
			t.Errorf("request %d: Accept = %q", i, got)
		}
		if got := r.Header.Get("Intercom-Version"); got != "2.14" {
			t.Errorf("request %d: Intercom-Version = %q", i, got)
		}
	}
	if ct := reqs[0].Header.Get("Content-Type"); ct != "" {
		t.Errorf("GET without body has Content-Type %q", ct)
	}
	if ct := reqs[1].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("POST Content-Type = %q", ct)
	}
}

func TestBaseURLPathPrefix(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"conversation","id":"1"}`)
	})
	c := newTestClient(t, srv, WithBaseURL(srv.URL+"/proxy/"))
	if _, err := c.Conversation(context.Background(), "1"); err != nil {
		t.Fatal(err)
	}
	if p := srv.requests()[0].Path; p != "/proxy/conversations/1" {
		t.Errorf("path = %s", p)
	}
}

func TestErrorClasses(t *testing.T) {
	sentinels := []error{ErrNotFound, ErrConflict, ErrRateLimited, ErrUnauthorized, ErrForbidden, ErrGone}
	tests := []struct {
		status int
		code   string
		want   error // nil: matches no sentinel
	}{
		{400, "parameter_invalid", nil},
		{401, "unauthorized", ErrUnauthorized},
		{403, "api_plan_restricted", ErrForbidden},
		{404, "not_found", ErrNotFound},
		{409, "conflict", ErrConflict},
		{410, "gone", ErrGone},
		{422, "data_invalid", nil},
		{429, "rate_limit_exceeded", ErrRateLimited},
		{500, "server_error", nil},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				writeRaw(w, tt.status, `{"type":"error.list","request_id":"req-9","errors":[{"code":"`+tt.code+`","message":"it failed","field":"phone"}]}`)
			})
			c := newTestClient(t, srv, WithRetry(RetryPolicy{MaxAttempts: 1}))
			_, err := c.Conversation(context.Background(), "42")
			if err == nil {
				t.Fatal("no error")
			}
			var apiErr *Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if apiErr.StatusCode != tt.status || apiErr.RequestID != "req-9" {
				t.Errorf("got status %d request id %q", apiErr.StatusCode, apiErr.RequestID)
			}
			if len(apiErr.Errors) != 1 || apiErr.Errors[0] != (ErrorItem{Code: tt.code, Message: "it failed", Field: "phone"}) {
				t.Errorf("items = %+v", apiErr.Errors)
			}
			if !apiErr.HasCode(tt.code) || apiErr.HasCode("nope") {
				t.Error("HasCode wrong")
			}
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(err, %v) = %v", s, got)
				}
			}
			msg := err.Error()
			for _, part := range []string{"intercom: GET /conversations/42", strconv.Itoa(tt.status), tt.code, "it failed", "req-9"} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q lacks %q", msg, part)
				}
			}
			if strings.Contains(msg, testToken) {
				t.Error("token in error message")
			}
		})
	}
}

func TestErrorWithoutJSONBody(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>bad gateway</html>"))
	})
	c := newTestClient(t, srv, WithRetry(RetryPolicy{MaxAttempts: 1}))
	_, err := c.Conversation(context.Background(), "1")
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || len(apiErr.Errors) != 0 {
		t.Fatalf("err = %v", err)
	}
}

func TestRetryPerStatus(t *testing.T) {
	tests := []struct {
		status   int
		attempts int
	}{
		{400, 1}, {401, 1}, {403, 1}, {404, 1}, {409, 1}, {410, 1}, {422, 1},
		{408, 3}, {429, 3}, {500, 3}, {502, 3}, {503, 3}, {504, 3},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				writeRaw(w, tt.status, errorBody("x", "failing"))
			})
			c := newTestClient(t, srv)
			_, err := c.Conversation(context.Background(), "1")
			if err == nil {
				t.Fatal("no error")
			}
			if got := len(srv.requests()); got != tt.attempts {
				t.Errorf("%d attempts, want %d", got, tt.attempts)
			}
			if IsRetryable(err) != (tt.attempts > 1) {
				t.Errorf("IsRetryable = %v", IsRetryable(err))
			}
			if tt.attempts > 1 && !strings.Contains(err.Error(), "giving up after 3 attempts") {
				t.Errorf("error %q does not say it gave up", err)
			}
		})
	}
}

func TestRetryThenSuccess(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n < 3 {
			writeRaw(w, 503, errorBody("service_unavailable", "busy"))
			return
		}
		writeRaw(w, 200, `{"type":"conversation","id":"9","state":"open"}`)
	})
	c := newTestClient(t, srv)
	conv, err := c.Conversation(context.Background(), "9")
	if err != nil {
		t.Fatal(err)
	}
	if conv.ID != "9" || len(srv.requests()) != 3 {
		t.Errorf("conv %+v after %d requests", conv, len(srv.requests()))
	}
}

func TestRetryPOSTKeepsBody(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			writeRaw(w, 503, errorBody("service_unavailable", "busy"))
			return
		}
		writeRaw(w, 200, `{"type":"conversation","id":"5"}`)
	})
	c := newTestClient(t, srv)
	if _, err := c.AddNote(context.Background(), "5", "77", "hello"); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 || !bytes.Equal(reqs[0].Body, reqs[1].Body) || len(reqs[1].Body) == 0 {
		t.Fatalf("retried body differs: %q vs %q", reqs[0].Body, reqs[1].Body)
	}
}

// Requests that create something are retried only when Intercom cannot
// have acted on them; after an ambiguous failure the caller decides.
func TestCreatingRequestsAreNotRetriedAfterAmbiguousFailures(t *testing.T) {
	calls := map[string]func(c *Client) error{
		"CreateConversation": func(c *Client) error {
			_, err := c.CreateConversation(context.Background(), ConversationCreate{FromID: "1", Body: "hi"})
			return err
		},
		"ReplyAsContact": func(c *Client) error {
			_, err := c.ReplyAsContact(context.Background(), "5", ContactReply{IntercomUserID: "1", Body: "hi"})
			return err
		},
		"AddNote": func(c *Client) error {
			_, err := c.AddNote(context.Background(), "5", "77", "hi")
			return err
		},
		"Assign (idempotent)": func(c *Client) error {
			_, err := c.Assign(context.Background(), "5", Assignment{AdminID: "77", AssigneeID: "8", AssigneeType: "team"})
			return err
		},
	}
	tests := []struct {
		status       int
		wantRequests map[bool]int // by whether the call creates something
	}{
		{500, map[bool]int{true: 1, false: 2}},
		{502, map[bool]int{true: 1, false: 2}},
		{504, map[bool]int{true: 1, false: 2}},
		{503, map[bool]int{true: 2, false: 2}},
		{429, map[bool]int{true: 2, false: 2}},
	}
	for name, call := range calls {
		creates := name != "Assign (idempotent)"
		for _, tt := range tests {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					writeRaw(w, tt.status, errorBody("x", "x"))
					return
				}
				if r.URL.Path == "/conversations" {
					writeRaw(w, 200, `{"type":"user_message","id":"1","conversation_id":"5"}`)
					return
				}
				writeRaw(w, 200, `{"type":"conversation","id":"5"}`)
			})
			c := newTestClient(t, srv)
			err := call(c)
			got, want := len(srv.requests()), tt.wantRequests[creates]
			if got != want {
				t.Errorf("%s after %d: %d requests, want %d", name, tt.status, got, want)
			}
			if want == 1 && (err == nil || !IsRetryable(err)) {
				t.Errorf("%s after %d: err = %v, want a retryable error for the caller", name, tt.status, err)
			}
		}
	}
}

func TestRetryConnectionErrors(t *testing.T) {
	var calls atomic.Int32
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if calls.Add(1) == 1 {
			// Drop the connection without an answer.
			hj, ok := w.(http.Hijacker)
			if !ok {
				t.Error("no hijacker")
				return
			}
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		writeRaw(w, 200, `{"type":"conversation","id":"3"}`)
	})
	c := newTestClient(t, srv)
	if _, err := c.Conversation(context.Background(), "3"); err != nil {
		t.Fatalf("dropped connection not retried: %v", err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d calls", calls.Load())
	}
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err := NewClient(testToken, WithBaseURL("http://"+addr), WithLimiter(nil), WithRetry(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Conversation(context.Background(), "1")
	if err == nil || !IsRetryable(err) || !strings.Contains(err.Error(), "giving up after 3 attempts") {
		t.Fatalf("err = %v (retryable %v)", err, IsRetryable(err))
	}
	if strings.Contains(err.Error(), testToken) {
		t.Error("token in error")
	}
}

func TestRetryTimeout(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
			return
		}
		writeRaw(w, 200, `{"type":"conversation","id":"4"}`)
	})
	c := newTestClient(t, srv, WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond}))
	if _, err := c.Conversation(context.Background(), "4"); err != nil {
		t.Fatalf("timeout not retried: %v", err)
	}
	if n := len(srv.requests()); n != 2 {
		t.Errorf("%d requests", n)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 500, errorBody("server_error", "down"))
	})
	c := newTestClient(t, srv, WithRetry(RetryPolicy{MaxAttempts: 10, InitialInterval: time.Second, MaxInterval: time.Second}))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Conversation(ctx, "1")
	if took := time.Since(start); took > time.Second {
		t.Errorf("returned after %v, long after the context ended", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 {
		t.Errorf("last attempt's error not reachable: %v", err)
	}
	if IsRetryable(err) {
		t.Error("an expired caller deadline must not be retryable")
	}
}

func TestCanceledContextBeforeCall(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeRaw(w, 200, `{}`) })
	c := newTestClient(t, srv, WithLimiter(NewWindowLimiter(1, time.Hour)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Conversation(ctx, "1")
	if !errors.Is(err, context.Canceled) || IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	if len(srv.requests()) != 0 {
		t.Error("request sent with a canceled context")
	}
}

func TestRemainingZeroHoldsRequests(t *testing.T) {
	reset := time.Now().Add(time.Second).Unix() + 1 // whole seconds, 1-2 s ahead
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("X-RateLimit-Limit", "83")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
		}
		writeRaw(w, 200, `{"type":"conversation","id":"1"}`)
	})
	c := newTestClient(t, srv)
	ctx := context.Background()
	if _, err := c.Conversation(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	// Two more calls, concurrently: both must wait for the reset.
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := c.Conversation(ctx, "1"); errs <- err }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	resetAt := time.Unix(reset, 0)
	for i, r := range srv.requests()[1:] {
		if r.At.Before(resetAt) {
			t.Errorf("request %d sent at %v, before the reset %v", i+2, r.At, resetAt)
		}
	}
}

func TestRemainingPositiveDoesNotHold(t *testing.T) {
	reset := time.Now().Add(30 * time.Second).Unix()
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("X-RateLimit-Remaining", "5")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
		writeRaw(w, 200, `{"type":"conversation","id":"1"}`)
	})
	c := newTestClient(t, srv)
	start := time.Now()
	for range 3 {
		if _, err := c.Conversation(context.Background(), "1"); err != nil {
			t.Fatal(err)
		}
	}
	if time.Since(start) > 2*time.Second {
		t.Error("requests held although budget remained")
	}
}

func Test429WaitsForResetAndRetries(t *testing.T) {
	tests := []struct {
		name    string
		headers func() (h map[string]string, notBefore func(first time.Time) time.Time)
	}{
		{"X-RateLimit-Reset", func() (map[string]string, func(time.Time) time.Time) {
			reset := time.Now().Unix() + 1
			h := map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(reset, 10)}
			return h, func(time.Time) time.Time { return time.Unix(reset, 0) }
		}},
		{"Retry-After seconds", func() (map[string]string, func(time.Time) time.Time) {
			return map[string]string{"Retry-After": "1"}, func(first time.Time) time.Time { return first.Add(time.Second) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, notBefore := tt.headers()
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					for k, v := range h {
						w.Header().Set(k, v)
					}
					writeRaw(w, 429, errorBody("rate_limit_exceeded", "Exceeded rate limit of 83 in 10_seconds"))
					return
				}
				writeRaw(w, 200, `{"type":"conversation","id":"1"}`)
			})
			c := newTestClient(t, srv)
			if _, err := c.Conversation(context.Background(), "1"); err != nil {
				t.Fatal(err)
			}
			reqs := srv.requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests", len(reqs))
			}
			if want := notBefore(reqs[0].At); reqs[1].At.Before(want) {
				t.Errorf("retried at %v, want >= %v", reqs[1].At, want)
			}
		})
	}
}

func Test429ErrorCarriesRetryAfter(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "1")
		writeRaw(w, 429, errorBody("rate_limit_exceeded", "slow down"))
	})
	c := newTestClient(t, srv, WithRetry(RetryPolicy{MaxAttempts: 1}))
	_, err := c.Conversation(context.Background(), "1")
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.RetryAfter != time.Second || !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v (%+v)", err, apiErr)
	}
}

func TestRetryGivesUpWhenResetBeyondMaxElapsed(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "30")
		writeRaw(w, 429, errorBody("rate_limit_exceeded", "slow down"))
	})
	c := newTestClient(t, srv, WithRetry(RetryPolicy{MaxAttempts: 5, MaxElapsed: 200 * time.Millisecond, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}))
	start := time.Now()
	_, err := c.Conversation(context.Background(), "1")
	if time.Since(start) > 2*time.Second {
		t.Errorf("waited %v for a reset past MaxElapsed", time.Since(start))
	}
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v", err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("%d requests", n)
	}
}

// countingLimiter counts Waits.
type countingLimiter struct{ n atomic.Int32 }

func (l *countingLimiter) Wait(ctx context.Context) error { l.n.Add(1); return ctx.Err() }

func TestLimiterWaitPerAttemptAndAdmission(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			writeRaw(w, 500, errorBody("server_error", "x"))
			return
		}
		writeRaw(w, 200, `{"type":"conversation","id":"1"}`)
	})
	lim := &countingLimiter{}
	c := newTestClient(t, srv, WithLimiter(lim))
	ctx := context.Background()

	if _, err := c.Conversation(ctx, "1"); err != nil { // 500 then 200
		t.Fatal(err)
	}
	if got := lim.n.Load(); got != 2 {
		t.Errorf("without admission: %d waits for 2 attempts, want 2", got)
	}

	lim.n.Store(0)
	if _, err := c.Conversation(ContextWithAdmission(ctx, lim), "1"); err != nil {
		t.Fatal(err)
	}
	if got := lim.n.Load(); got != 0 {
		t.Errorf("admitted by the same limiter: %d waits, want 0", got)
	}

	lim.n.Store(0)
	other := &countingLimiter{}
	if _, err := c.Conversation(ContextWithAdmission(ctx, other), "1"); err != nil {
		t.Fatal(err)
	}
	// The call is charged to the caller's budget, not the client's own.
	if got, gotOther := lim.n.Load(), other.n.Load(); got != 0 || gotOther != 0 {
		t.Errorf("admitted by another limiter: %d waits on the client's limiter and %d on the caller's, want 0 and 0", got, gotOther)
	}
}

func TestAdmissionCoversFirstAttemptOnly(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			writeRaw(w, 503, errorBody("service_unavailable", "x"))
			return
		}
		writeRaw(w, 200, `{"type":"conversation","id":"1"}`)
	})
	lim := &countingLimiter{}
	c := newTestClient(t, srv, WithLimiter(lim))
	if _, err := c.Conversation(ContextWithAdmission(context.Background(), lim), "1"); err != nil {
		t.Fatal(err)
	}
	if got := lim.n.Load(); got != 1 {
		t.Errorf("%d waits, want 1 (the retry)", got)
	}
}

func TestTokenNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 500, errorBody("server_error", "x"))
	})
	c := newTestClient(t, srv, WithLogger(logger))
	_, err := c.Conversation(context.Background(), "1")
	if err == nil {
		t.Fatal("want error")
	}
	if buf.Len() == 0 {
		t.Fatal("nothing logged at debug level")
	}
	if strings.Contains(buf.String(), testToken) || strings.Contains(err.Error(), testToken) {
		t.Error("token leaked into logs or errors")
	}
	if !strings.Contains(buf.String(), "retrying request") {
		t.Errorf("retry not logged: %s", buf.String())
	}
}

func TestInvalidArguments(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeRaw(w, 200, `{}`) })
	c := newTestClient(t, srv)
	ctx := context.Background()
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = "https://example.com/x.jpg"
	}
	calls := []struct {
		name string
		fn   func() error
		want string
	}{
		{"search empty", func() error { _, err := c.SearchContactsByPhone(ctx, " "); return err }, "empty phone"},
		{"create bad role", func() error { _, err := c.CreateContact(ctx, ContactCreate{Role: "admin", Phone: "+1"}); return err }, "role"},
		{"create nothing", func() error { _, err := c.CreateContact(ctx, ContactCreate{}); return err }, "phone number or an external id"},
		{"contact empty", func() error { _, err := c.Contact(ctx, ""); return err }, "empty contact id"},
		{"contact slash", func() error { _, err := c.Contact(ctx, "a/b"); return err }, "invalid contact id"},
		{"conv bad from", func() error {
			_, err := c.CreateConversation(ctx, ConversationCreate{FromType: "admin", FromID: "1", Body: "x"})
			return err
		}, "FromType"},
		{"conv no from", func() error { _, err := c.CreateConversation(ctx, ConversationCreate{Body: "x"}); return err }, "FromID"},
		{"conv empty", func() error { _, err := c.CreateConversation(ctx, ConversationCreate{FromID: "1"}); return err }, "empty body"},
		{"conv 11 urls", func() error {
			_, err := c.CreateConversation(ctx, ConversationCreate{FromID: "1", Body: "x", AttachmentURLs: eleven})
			return err
		}, "at most 10"},
		{"conv bad url", func() error {
			_, err := c.CreateConversation(ctx, ConversationCreate{FromID: "1", Body: "x", AttachmentURLs: []string{"/rel.jpg"}})
			return err
		}, "not an absolute"},
		{"reply no conv", func() error {
			_, err := c.ReplyAsContact(ctx, "", ContactReply{IntercomUserID: "u", Body: "x"})
			return err
		}, "empty conversation id"},
		{"reply no user", func() error { _, err := c.ReplyAsContact(ctx, "1", ContactReply{Body: "x"}); return err }, "IntercomUserID"},
		{"note no admin", func() error { _, err := c.AddNote(ctx, "1", "", "x"); return err }, "admin id"},
		{"note no body", func() error { _, err := c.AddNote(ctx, "1", "2", " "); return err }, "empty body"},
		{"assign bad type", func() error {
			_, err := c.Assign(ctx, "1", Assignment{AdminID: "1", AssigneeID: "2", AssigneeType: "bot"})
			return err
		}, "AssigneeType"},
		{"assign no assignee", func() error {
			_, err := c.Assign(ctx, "1", Assignment{AdminID: "1", AssigneeType: "team"})
			return err
		}, "AssigneeID"},
		{"open no admin", func() error { _, err := c.Open(ctx, "1", ""); return err }, "admin id"},
		{"tag no tag", func() error { return c.TagConversation(ctx, "1", "", "2") }, "tag id"},
		{"tag no admin", func() error { return c.TagConversation(ctx, "1", "3", "") }, "admin id"},
		{"get no id", func() error { _, err := c.Conversation(ctx, ""); return err }, "empty conversation id"},
		{"search conv no contact", func() error {
			_, err := c.SearchConversationsByContact(ctx, " ", time.Unix(1e9, 0))
			return err
		}, "empty contact id"},
		{"search conv spaced contact", func() error {
			_, err := c.SearchConversationsByContact(ctx, "a b", time.Unix(1e9, 0))
			return err
		}, "invalid contact id"},
		{"search conv zero since", func() error {
			_, err := c.SearchConversationsByContact(ctx, "c1", time.Time{})
			return err
		}, "zero since"},
		{"search conv since before epoch", func() error {
			_, err := c.SearchConversationsByContact(ctx, "c1", time.Unix(-5, 0))
			return err
		}, "UNIX epoch"},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fn()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "intercom: ") {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid arguments", n)
	}
}

func TestHeldAdmissionIsStale(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"conversation","id":"1"}`)
	})
	lim := &countingLimiter{}
	c := newTestClient(t, srv, WithLimiter(lim))
	until := time.Now().Add(80 * time.Millisecond)
	c.gate.hold(time.Now(), until)
	if _, err := c.Conversation(ContextWithAdmission(context.Background(), lim), "1"); err != nil {
		t.Fatal(err)
	}
	if got := lim.n.Load(); got != 1 {
		t.Errorf("%d waits after a hold, want 1: the earlier admission is stale", got)
	}
	if at := srv.requests()[0].At; at.Before(until) {
		t.Errorf("sent at %v, before the hold ended at %v", at, until)
	}
}

func TestHoldIsCapped(t *testing.T) {
	var g gate
	now := time.Now()
	g.hold(now, now.Add(time.Hour))
	if got := g.heldUntil().Sub(now); got != maxHold {
		t.Errorf("held for %v, want the cap %v", got, maxHold)
	}
	g.hold(now, now.Add(time.Second)) // an earlier reset never shortens a hold
	if got := g.heldUntil().Sub(now); got != maxHold {
		t.Errorf("hold shortened to %v", got)
	}
}

func TestIsAmbiguous(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"500", &Error{StatusCode: 500}, true},
		{"502", &Error{StatusCode: 502}, true},
		{"504", &Error{StatusCode: 504}, true},
		{"503", &Error{StatusCode: 503}, false},
		{"429", &Error{StatusCode: 429}, false},
		{"dial refused", &transportError{err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, false},
		{"reset after sending", &transportError{err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}}, true},
		{"timeout", &transportError{err: context.DeadlineExceeded}, true},
		{"no connection", &transportError{err: errors.New("tls: handshake failure"), notSent: true}, false},
		{"cancelled", context.Canceled, false},
		{"deadline", context.DeadlineExceeded, false},
		{"cancelled in flight", &inFlightError{err: context.Canceled}, true},
		{"deadline in flight", fmt.Errorf("wrapped: %w", &inFlightError{err: context.DeadlineExceeded}), true},
		{"not sent", &notSentError{reason: "r", cause: context.Canceled}, false},
		{"not sent after 503", &notSentError{reason: "r", cause: context.Canceled, last: &Error{StatusCode: 503}}, false},
		{"not sent after 500", &notSentError{reason: "r", last: &Error{StatusCode: 500}}, true},
		{"wrapped ErrNotSent from a caller's budget", fmt.Errorf("budget: %w: %w", ErrNotSent, errors.New("redis: connection refused")), false},
	}
	for _, tt := range tests {
		if got := IsAmbiguous(tt.err); got != tt.want {
			t.Errorf("IsAmbiguous(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
