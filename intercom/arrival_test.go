package intercom_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

// arrivals returns the arrival times of the authenticated requests the
// server admitted to its budget (everything but 401 and 429), in order.
func arrivals(s *intercomtest.Server) []time.Time {
	var out []time.Time
	for _, r := range s.Requests() {
		if r.Status != http.StatusUnauthorized && r.Status != http.StatusTooManyRequests {
			out = append(out, r.Time)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// mostInWindow returns the largest number of times in any closed interval
// of length window.
func mostInWindow(times []time.Time, window time.Duration) int {
	most, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) > window {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

// hammer makes calls through each client from workers goroutines per
// client until d has passed, and returns how many calls failed.
func hammer(t *testing.T, d time.Duration, workers int, clients ...*intercom.Client) (failed int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range clients {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					_, err := c.Conversation(ctx, "1")
					if errors.Is(err, intercom.ErrNotSent) && ctx.Err() == nil {
						// The next slot lies past the end of the run.
						<-ctx.Done()
					}
					if err != nil && ctx.Err() == nil && !errors.Is(err, intercom.ErrNotFound) {
						mu.Lock()
						failed++
						mu.Unlock()
						t.Logf("call failed: %v", err)
					}
				}
			}()
		}
	}
	wg.Wait()
	return failed
}

// TestWindowLimiterUsesBudgetCountedOnArrival drives a client with a
// WindowLimiter of the fake's own budget from 16 goroutines for 5 s. The
// fake counts requests on arrival and answers 429 past its budget: it must
// never have to, no window of arrivals may hold more than the budget, and
// once the margin has been sized from measured latencies the limiter should
// use most of the budget (the figure is logged; the bound is loose, as the
// machine may be busy).
func TestWindowLimiterUsesBudgetCountedOnArrival(t *testing.T) {
	const (
		n      = 20
		window = time.Second
		run    = 5 * time.Second
	)
	s := intercomtest.NewServer(intercomtest.WithBudget(n, window))
	defer s.Close()
	lim := intercom.NewWindowLimiter(n, window)
	c, err := intercom.NewClient(s.Token, intercom.WithBaseURL(s.URL), intercom.WithHTTPClient(s.Client()), intercom.WithLimiter(lim))
	if err != nil {
		t.Fatal(err)
	}
	failed := hammer(t, run, 16, c)
	if lim.Margin() >= window/2 {
		t.Skipf("latencies reached %v: the machine is too loaded to tell (the margin is at its ceiling of half the window)", lim.Margin())
	}
	if failed > 0 {
		t.Errorf("%d calls failed", failed)
	}
	if got := s.RateLimited(); got != 0 {
		t.Errorf("the fake answered 429 %d times", got)
	}
	times := arrivals(s)
	if most := mostInWindow(times, window); most > n {
		t.Errorf("%d requests arrived within %v; the budget is %d", most, window, n)
	}
	// Budget use after the first window, whose burst says nothing about
	// the margin.
	var steady int
	for _, at := range times {
		if at.Sub(times[0]) > window {
			steady++
		}
	}
	// At most n per window, and n more for where the span cuts windows.
	span := times[len(times)-1].Sub(times[0]) - window
	used := float64(steady) / (float64(n) * (span.Seconds()/window.Seconds() + 1))
	t.Logf("%d requests; margin %v; budget used after the first window: %.1f%%", len(times), lim.Margin(), 100*used)
	if used < 0.75 {
		t.Errorf("budget used %.1f%%, want at least 75%% (the margin is %v)", 100*used, lim.Margin())
	}
}
