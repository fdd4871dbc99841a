package redisstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/store/storetest"
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

// timedLimiter gives the suite the Redis time of each admission.
type timedLimiter struct{ *Limiter }

func (l timedLimiter) WaitAt(ctx context.Context) (time.Time, error) { return l.wait(ctx) }

// TestLimiterConformance runs the shared limiter suite on limiters that
// share one fresh key, each on its own client.
func TestLimiterConformance(t *testing.T) {
	storetest.TestLimiter(t, func(t *testing.T, count, n int, window time.Duration) []storetest.SharedLimiter {
		var out []storetest.SharedLimiter
		for _, l := range newTestLimiters(t, count, n, window) {
			out = append(out, timedLimiter{l})
		}
		return out
	})
}

// Limiter satisfies the Limiter interfaces of packages intercom and relay.
var _ interface{ Wait(context.Context) error } = (*Limiter)(nil)
