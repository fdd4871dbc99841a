package intercom

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// createConv starts a conversation with c, the call whose ambiguity matters.
func createConv(ctx context.Context, c *Client) error {
	_, err := c.CreateConversation(ctx, ConversationCreate{FromID: "1", Body: "hi"})
	return err
}

// A request whose context ends once the server has it is ambiguous, and
// still reads as the context's end; one whose context ends while the
// connection is being made is not.
func TestContextEndsInFlight(t *testing.T) {
	for _, want := range []error{context.Canceled, context.DeadlineExceeded} {
		t.Run(want.Error(), func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				arrived <- struct{}{}
				<-r.Context().Done() // never answer
			})
			c := newTestClient(t, srv)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if want == context.DeadlineExceeded {
				ctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
				defer cancel()
			} else {
				go func() { <-arrived; cancel() }()
			}
			err := createConv(ctx, c)
			if !errors.Is(err, want) || !IsAmbiguous(err) || IsRetryable(err) || errors.Is(err, ErrNotSent) {
				t.Errorf("err = %v: matches %v %v, ambiguous %v, retryable %v, not sent %v; want true true false false",
					err, want, errors.Is(err, want), IsAmbiguous(err), IsRetryable(err), errors.Is(err, ErrNotSent))
			}
			if !strings.HasPrefix(err.Error(), "intercom: POST /conversations: ") {
				t.Errorf("error %q lacks the call", err)
			}
			if n := len(srv.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestContextEndsWhileConnecting(t *testing.T) {
	for _, want := range []error{context.Canceled, context.DeadlineExceeded} {
		t.Run(want.Error(), func(t *testing.T) {
			dialing := make(chan struct{}, 1)
			hc := &http.Client{Transport: &http.Transport{
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dialing <- struct{}{}
					<-ctx.Done()
					return nil, ctx.Err()
				},
			}}
			c, err := NewClient(testToken, WithBaseURL("http://intercom.invalid"), WithLimiter(nil), WithRetry(fastRetry), WithHTTPClient(hc))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if want == context.DeadlineExceeded {
				ctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
			} else {
				go func() { <-dialing; cancel() }()
			}
			err = createConv(ctx, c)
			if !errors.Is(err, want) || IsAmbiguous(err) || IsRetryable(err) || !errors.Is(err, ErrNotSent) {
				t.Errorf("err = %v: matches %v %v, ambiguous %v, retryable %v, not sent %v; want true false false true",
					err, want, errors.Is(err, want), IsAmbiguous(err), IsRetryable(err), errors.Is(err, ErrNotSent))
			}
		})
	}
}

// blockingTransport answers nothing and reports no connection events.
type blockingTransport struct{}

func (blockingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// A transport that reports nothing through httptrace may have sent the
// request: a cancellation during it is ambiguous.
func TestContextEndsInUntracedTransport(t *testing.T) {
	c, err := NewClient(testToken, WithLimiter(nil), WithRetry(fastRetry), WithHTTPClient(&http.Client{Transport: blockingTransport{}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = createConv(ctx, c)
	if !errors.Is(err, context.DeadlineExceeded) || !IsAmbiguous(err) {
		t.Errorf("err = %v (ambiguous %v), want an ambiguous deadline", err, IsAmbiguous(err))
	}
}

// failingLimiter fails every Wait.
type failingLimiter struct{ err error }

func (l failingLimiter) Wait(context.Context) error { return l.err }

// A request the limiter does not let go is not sent, and says so.
func TestLimiterRefusalIsNotSent(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"user_message","id":"1","conversation_id":"5"}`)
	})
	busy := func() Limiter { // one request per 30 s, already used
		l := NewWindowLimiter(1, 30*time.Second)
		_ = l.Wait(context.Background())
		return l
	}
	tests := []struct {
		name      string
		limiter   Limiter
		retry     RetryPolicy
		timeout   time.Duration // 0: no deadline
		want      error         // also matched, besides ErrNotSent; nil for none
		retryable bool
	}{
		{"slot after the context's deadline", busy(), RetryPolicy{MaxElapsed: time.Minute}, 10 * time.Second, context.DeadlineExceeded, false},
		{"slot after MaxElapsed", busy(), RetryPolicy{MaxElapsed: time.Second}, 0, nil, true},
		{"limiter failure", failingLimiter{errors.New("budget store down")}, fastRetry, 0, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, srv, WithLimiter(tt.limiter), WithRetry(tt.retry))
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			start := time.Now()
			err := createConv(ctx, c)
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("returned after %v; the slot was known to be too late at once", took)
			}
			if err == nil {
				t.Fatal("the request went through")
			}
			if !errors.Is(err, ErrNotSent) || IsAmbiguous(err) || IsRetryable(err) != tt.retryable {
				t.Errorf("err = %v: not sent %v, ambiguous %v, retryable %v", err, errors.Is(err, ErrNotSent), IsAmbiguous(err), IsRetryable(err))
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want it to match %v", err, tt.want)
			}
			if tt.want == nil && isContextErr(err) {
				t.Errorf("err = %v matches a context error, but the caller's context is live", err)
			}
			if !strings.HasPrefix(err.Error(), "intercom: POST /conversations: not sent: ") {
				t.Errorf("error %q", err)
			}
		})
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// The first attempt is not held past the context's deadline: it is not
// sent, at once.
func TestHoldPastDeadlineIsNotSent(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"user_message","id":"1","conversation_id":"5"}`)
	})
	c := newTestClient(t, srv)
	c.gate.hold(c.now(), c.now().Add(30*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := createConv(ctx, c)
	if time.Since(start) > 2*time.Second {
		t.Errorf("waited %v for a hold past the deadline", time.Since(start))
	}
	if !errors.Is(err, ErrNotSent) || !errors.Is(err, context.DeadlineExceeded) || IsAmbiguous(err) || IsRetryable(err) {
		t.Errorf("err = %v (ambiguous %v, retryable %v)", err, IsAmbiguous(err), IsRetryable(err))
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// A call stopped between attempts is not sent again; the error keeps the
// last attempt's and says whether that one was ambiguous.
func TestCancelBetweenAttempts(t *testing.T) {
	for _, status := range []int{503, 500} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				writeRaw(w, status, errorBody("x", "down"))
			})
			c := newTestClient(t, srv, WithRetry(RetryPolicy{MaxAttempts: 5, InitialInterval: 10 * time.Second, MaxInterval: 10 * time.Second}))
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			// A read is retried after a 500 too.
			_, err := c.Conversation(ctx, "5")
			var apiErr *Error
			if !errors.Is(err, ErrNotSent) || !errors.Is(err, context.Canceled) || !errors.As(err, &apiErr) || apiErr.StatusCode != status {
				t.Fatalf("err = %v", err)
			}
			if IsAmbiguous(err) != (status == 500) || IsRetryable(err) {
				t.Errorf("err = %v: ambiguous %v, retryable %v", err, IsAmbiguous(err), IsRetryable(err))
			}
			if !strings.Contains(err.Error(), "attempt 1 failed: HTTP "+strconv.Itoa(status)) {
				t.Errorf("error %q does not name the last attempt", err)
			}
		})
	}
}
