package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// SharedLimiter is a limiter whose budget other limiters (other replicas)
// share, as pgstore.NewLimiter and redisstore.NewLimiter build. Wait is the
// method the relay and the Intercom client call.
type SharedLimiter interface {
	Wait(ctx context.Context) error
	// WaitAt is Wait that also returns the time of the admission on the
	// clock the limiters share (the database's or Redis's), so that the
	// suite can check the window without the scheduling noise of the
	// test's own clock. A store's limiter exposes it to its own tests.
	WaitAt(ctx context.Context) (time.Time, error)
}

// NewLimiters returns count limiters that share one fresh budget of n
// requests per window, each with its own connection, as count replicas
// would have. Budgets made by different calls must not see each other.
type NewLimiters func(t *testing.T, count, n int, window time.Duration) []SharedLimiter

// TestLimiter checks the rules every shared limiter follows: no window holds
// more than n admissions across replicas, a Wait whose context ends returns
// its error promptly, one whose deadline falls before the next free slot
// fails at once, and a Wait that was never admitted spends no budget.
func TestLimiter(t *testing.T, newLimiters NewLimiters) {
	t.Run("SlidingWindowAcrossReplicas", func(t *testing.T) {
		t.Parallel()
		testLimiterWindow(t, newLimiters)
	})
	t.Run("Context", func(t *testing.T) {
		t.Parallel()
		testLimiterContext(t, newLimiters)
	})
}

// testLimiterWindow drives 120 concurrent Waits through three limiters
// sharing a budget of 20 per 500ms and checks, on the shared clock that
// stamped each admission, that no window of 500ms holds more than 20.
func testLimiterWindow(t *testing.T, newLimiters NewLimiters) {
	const (
		n      = 20
		window = 500 * time.Millisecond
		calls  = 120
	)
	ls := newLimiters(t, 3, n, window)
	if len(ls) != 3 {
		t.Fatalf("NewLimiters returned %d limiters, want 3", len(ls))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
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
			at, err := ls[i%len(ls)].WaitAt(ctx)
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
	if elapsed > 20*time.Second {
		t.Errorf("120 Waits took %v, want well under 20s (about 3s)", elapsed)
	}
	t.Logf("120 admissions in %v (shared clock span %v)", elapsed, times[len(times)-1].Sub(times[0]))
}

func testLimiterContext(t *testing.T, newLimiters NewLimiters) {
	l := newLimiters(t, 1, 1, time.Minute)[0]
	ctx := t.Context()
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	t.Run("CancelWhileWaiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait with the budget spent and ctx cancelled: %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Wait returned %v after cancel, want promptly", d)
		}
	})
	t.Run("DeadlineBeforeNextSlot", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		start := time.Now()
		if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait: %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 900*time.Millisecond {
			t.Fatalf("Wait took %v; a slot a minute away should fail at once", d)
		}
	})
	t.Run("AlreadyCancelledUsesNoBudget", func(t *testing.T) {
		l := newLimiters(t, 1, 1, time.Minute)[0]
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
