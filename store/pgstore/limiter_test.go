package pgstore_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store/pgstore"
)

// Limiter satisfies the Limiter interface of package intercom (and so
// relay's, which is the same).
var _ intercom.Limiter = (*pgstore.Limiter)(nil)

// newTestLimiters returns count limiters sharing one budget in a fresh
// schema, each on its own pool, as count replicas would have.
func newTestLimiters(t *testing.T, count, n int, window time.Duration) []*pgstore.Limiter {
	t.Helper()
	admin := testPool(t)
	schema := testSchema(t, admin)
	if err := pgstore.Migrate(context.Background(), admin, pgstore.WithSchema(schema)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	ls := make([]*pgstore.Limiter, count)
	for i := range ls {
		l, err := pgstore.NewLimiter(testPool(t), n, window, pgstore.WithLimiterSchema(schema), pgstore.WithLimiterKey("test"))
		if err != nil {
			t.Fatal(err)
		}
		ls[i] = l
	}
	return ls
}

func TestNewLimiterValidation(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://127.0.0.1:1/none") // never dialled
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	tests := []struct {
		name   string
		pool   *pgxpool.Pool
		n      int
		window time.Duration
		opts   []pgstore.LimiterOption
		want   string // substring of the error; "" for success
	}{
		{"intercom budget", pool, 83, 10 * time.Second, nil, ""},
		{"own key and schema", pool, 1, time.Millisecond, []pgstore.LimiterOption{pgstore.WithLimiterKey("k"), pgstore.WithLimiterSchema("s1"), pgstore.WithLimiterLogger(nil)}, ""},
		{"nil pool", nil, 1, time.Second, nil, "nil pool"},
		{"zero n", pool, 0, time.Second, nil, "n 0 is not positive"},
		{"negative n", pool, -1, time.Second, nil, "n -1 is not positive"},
		{"zero window", pool, 1, 0, nil, "shorter than a millisecond"},
		{"empty key", pool, 1, time.Second, []pgstore.LimiterOption{pgstore.WithLimiterKey("")}, "empty limiter key"},
		{"bad schema", pool, 1, time.Second, []pgstore.LimiterOption{pgstore.WithLimiterSchema("Bad-Name")}, "invalid schema name"},
		{"nil option", pool, 1, time.Second, []pgstore.LimiterOption{nil}, "option 0 is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := pgstore.NewLimiter(tt.pool, tt.n, tt.window, tt.opts...)
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
// three limiters sharing a budget of 20 per 500ms and checks, on the
// database clock that stamped each admission, that no window of 500ms holds
// more than 20 of them.
func TestLimiterSlidingWindowAcrossReplicas(t *testing.T) {
	t.Parallel()
	const (
		n      = 20
		window = 500 * time.Millisecond
		calls  = 120
	)
	ls := newTestLimiters(t, 3, n, window)
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
	if span := times[len(times)-1].Sub(times[0]); span <= 5*window {
		t.Errorf("admissions span %v, want more than %v", span, 5*window)
	}
	if elapsed > 20*time.Second {
		t.Errorf("120 Waits took %v, want well under 20s (about 3.5s)", elapsed)
	}
	t.Logf("120 admissions in %v (database clock span %v)", elapsed, times[len(times)-1].Sub(times[0]))
}

func TestLimiterContext(t *testing.T) {
	t.Parallel()
	l := newTestLimiters(t, 1, 1, time.Minute)[0]
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

// BenchmarkLimiterWait measures one admission: one statement, with the
// budget never spent.
func BenchmarkLimiterWait(b *testing.B) {
	pool := testPool(b)
	schema := testSchema(b, pool)
	if err := pgstore.Migrate(context.Background(), pool, pgstore.WithSchema(schema)); err != nil {
		b.Fatalf("Migrate: %v", err)
	}
	l, err := pgstore.NewLimiter(pool, 1<<20, time.Millisecond, pgstore.WithLimiterSchema(schema))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
