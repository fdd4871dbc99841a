package redisstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// newTestLimiters returns count limiters sharing one fresh key, as count
// replicas would.
func newTestLimiters(t *testing.T, count, n int, window time.Duration) []*Limiter {
	t.Helper()
	c := testClient(t)
	key := "smsrelaytest-limiter-" + newToken()[:16]
	t.Cleanup(func() { _ = c.Del(context.Background(), key).Err() })
	ls := make([]*Limiter, count)
	for i := range ls {
		// One client per limiter, as separate processes would have.
		ci := redis.NewClient(c.Options())
		t.Cleanup(func() { _ = ci.Close() })
		l, err := NewLimiter(ci, n, window, WithLimiterKey(key))
		if err != nil {
			t.Fatal(err)
		}
		ls[i] = l
	}
	return ls
}

func TestNewLimiterValidation(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { _ = c.Close() })
	tests := []struct {
		name   string
		client redis.UniversalClient
		n      int
		window time.Duration
		opts   []LimiterOption
		want   string // substring of the error; "" for success
	}{
		{"intercom budget", c, 83, 10 * time.Second, nil, ""},
		{"own key", c, 1, time.Millisecond, []LimiterOption{WithLimiterKey("k"), WithLimiterLogger(nil)}, ""},
		{"nil client", nil, 1, time.Second, nil, "nil redis client"},
		{"zero n", c, 0, time.Second, nil, "n 0 is not positive"},
		{"negative n", c, -1, time.Second, nil, "n -1 is not positive"},
		{"zero window", c, 1, 0, nil, "shorter than a millisecond"},
		{"tiny window", c, 1, time.Microsecond, nil, "shorter than a millisecond"},
		{"empty key", c, 1, time.Second, []LimiterOption{WithLimiterKey("")}, "empty limiter key"},
		{"nil option", c, 1, time.Second, []LimiterOption{nil}, "option 0 is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLimiter(tt.client, tt.n, tt.window, tt.opts...)
			if tt.want == "" {
				if err != nil || l == nil {
					t.Fatalf("NewLimiter: %v, %v; want a limiter", l, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewLimiter: error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestLimiterSlidingWindowAcrossReplicas drives 120 concurrent Waits through
// three limiters sharing a budget of 20 per 500ms and checks, on the Redis
// clock that stamped each admission, that no window of 500ms holds more than
// 20 of them.
func TestLimiterSlidingWindowAcrossReplicas(t *testing.T) {
	t.Parallel()
	const (
		n      = 20
		window = 500 * time.Millisecond
		calls  = 120
	)
	ls := newTestLimiters(t, 3, n, window)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	var (
		mu    sync.Mutex
		times []time.Time
		wg    sync.WaitGroup
	)
	start := time.Now()
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at, err := ls[i%len(ls)].wait(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			times = append(times, at)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(times) != calls {
		t.Fatalf("%d of %d Waits were admitted", len(times), calls)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	// Admissions i and i+n must be more than a window apart, else the
	// closed interval [times[i], times[i+n]] of length <= window holds n+1.
	for i := 0; i+n < len(times); i++ {
		if gap := times[i+n].Sub(times[i]); gap <= window {
			t.Errorf("admissions %d and %d are %v apart: %d admissions within %v, limit %d",
				i, i+n, gap, n+1, window, n)
		}
	}
	// 120 admissions at 20 per window need at least five full windows after
	// the first; with a fair share of scheduling they take not much more.
	if span := times[len(times)-1].Sub(times[0]); span <= 5*window {
		t.Errorf("admissions span %v, want more than %v", span, 5*window)
	}
	if elapsed > 10*time.Second {
		t.Errorf("120 Waits took %v, want well under 10s (about 2.5s)", elapsed)
	}
	t.Logf("120 admissions in %v (Redis clock span %v)", elapsed, times[len(times)-1].Sub(times[0]))
}

func TestLimiterContext(t *testing.T) {
	t.Parallel()
	ls := newTestLimiters(t, 1, 1, time.Minute)
	l := ls[0]
	ctx := t.Context()
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("first Wait: %v", err)
	}

	t.Run("CancelWhileWaiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		err := l.Wait(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait with the budget spent and ctx cancelled: %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Wait returned %v after cancel, want promptly", d)
		}
	})
	t.Run("Deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait: %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("AlreadyCancelledUsesNoBudget", func(t *testing.T) {
		l := newTestLimiters(t, 1, 1, time.Minute)[0]
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait with a cancelled ctx: %v, want context.Canceled", err)
		}
		wctx, wcancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer wcancel()
		if err := l.Wait(wctx); err != nil {
			t.Fatalf("Wait after a cancelled Wait: %v; the cancelled call must not use the budget", err)
		}
	})
}

// Limiter satisfies the Limiter interfaces of packages intercom and relay.
var _ interface{ Wait(context.Context) error } = (*Limiter)(nil)
