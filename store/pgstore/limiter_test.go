package pgstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store/pgstore"
	"github.com/smsrelay/smsrelay/store/storetest"
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

// TestLimiterConformance runs the shared limiter suite on limiters that
// share one budget in a fresh schema, each on its own pool.
func TestLimiterConformance(t *testing.T) {
	storetest.TestLimiter(t, func(t *testing.T, count, n int, window time.Duration) []storetest.SharedLimiter {
		var out []storetest.SharedLimiter
		for _, l := range newTestLimiters(t, count, n, window) {
			out = append(out, l)
		}
		return out
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
