package intercom_test

import (
	"context"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

// skewedClient returns a client of s whose clock runs skew ahead of the
// server's (behind for a negative skew), with no limiter of its own, so that
// only the server's budget and its rate-limit answers pace it.
func skewedClient(t *testing.T, s *intercomtest.Server, skew time.Duration) *intercom.Client {
	t.Helper()
	c, err := intercom.NewClient(s.Token, intercom.WithBaseURL(s.URL), intercom.WithLimiter(nil),
		intercom.WithRetry(intercom.RetryPolicy{MaxAttempts: 5, MaxElapsed: 10 * time.Second,
			InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	intercom.SetClock(c, func() time.Time { return time.Now().Add(skew) })
	return c
}

// Intercom's X-RateLimit-Reset is a time on Intercom's clock: the client
// measures it against the answer's Date, so a client clock that is off does
// not change how long it waits.
func TestRateLimitResetUnderClockSkew(t *testing.T) {
	t.Run("client clock ahead: still waits for the reset", func(t *testing.T) {
		// Ahead, the reset looks past: the client would not hold after
		// Remaining: 0 and would retry 429s within milliseconds, giving up
		// long before the window resets.
		s := intercomtest.NewServer(intercomtest.WithBudget(2, 2*time.Second))
		defer s.Close()
		ct, _ := s.AddContact(intercomtest.Contact{Phone: "+15551240001"})
		conv, _ := s.StartConversation(ct.ID, "hello")
		c := skewedClient(t, s, time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		for i := range 3 {
			if _, err := c.Conversation(ctx, conv.ID); err != nil {
				t.Fatalf("call %d: %v", i+1, err)
			}
		}
		if n := s.RateLimited(); n > 1 {
			t.Errorf("the server answered 429 %d times; the client did not wait for the reset", n)
		}
	})
	t.Run("client clock behind: holds seconds, not a minute", func(t *testing.T) {
		// Behind, a reset a second away looks an hour away: every
		// Remaining: 0 would stall the client for the longest hold.
		s := intercomtest.NewServer(intercomtest.WithBudget(2, time.Second))
		defer s.Close()
		ct, _ := s.AddContact(intercomtest.Contact{Phone: "+15551240002"})
		conv, _ := s.StartConversation(ct.ID, "hello")
		c := skewedClient(t, s, -time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		start := time.Now()
		for i := range 3 {
			if _, err := c.Conversation(ctx, conv.ID); err != nil {
				t.Fatalf("call %d after %v: %v", i+1, time.Since(start), err)
			}
		}
		if took := time.Since(start); took > 8*time.Second {
			t.Errorf("three calls took %v; a reset about two seconds away held the client far longer", took)
		}
		if n := s.RateLimited(); n > 1 {
			t.Errorf("the server answered 429 %d times", n)
		}
	})
}
