package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/smsrelay/smsrelay/intercom"

	"github.com/redis/go-redis/v9"
)

// DefaultLimiterKey is the Redis key of a [Limiter] created without
// [WithLimiterKey].
const DefaultLimiterKey = "smsrelay:intercom-budget"

// Limiter is a sliding-window rate limiter shared by every process that uses
// the same Redis key: in any window of length window, at most n calls to
// [Limiter.Wait] return nil, across all processes together. It satisfies the
// Limiter interfaces of packages intercom and relay. Create it with
// [NewLimiter]; it is safe for concurrent use.
type Limiter struct {
	rdb    redis.UniversalClient
	key    string
	n      int
	window time.Duration
	log    *slog.Logger
	admit  *redis.Script
	meter  *intercom.MarginMeter
	rtt    atomic.Int64 // nanoseconds of the last admitting round trip
}

// LimiterOption configures a [Limiter].
type LimiterOption func(*limiterConfig) error

type limiterConfig struct {
	key string
	log *slog.Logger
}

// WithLimiterKey sets the Redis key that holds the log of admissions
// (default [DefaultLimiterKey]). Limiters that share a budget must use the
// same key, n and window; give each Intercom workspace its own key.
func WithLimiterKey(key string) LimiterOption {
	return func(c *limiterConfig) error {
		if key == "" {
			return errors.New("redisstore: empty limiter key")
		}
		c.key = key
		return nil
	}
}

// WithLimiterLogger sets the logger the limiter reports waits to, at debug
// level. Nil restores the default, which discards everything.
func WithLimiterLogger(l *slog.Logger) LimiterOption {
	return func(c *limiterConfig) error {
		c.log = l
		return nil
	}
}

// NewLimiter returns a limiter that admits at most n calls in any window of
// length window, counted in Redis so that all replicas share the budget.
// Intercom enforces its budget per 10-second window, so use window =
// 10 * time.Second and n = the app's per-minute limit divided by six; the
// intercom package's cautious default is n = 83 (500 a minute). n must be
// positive and window at least a millisecond. NewLimiter does no I/O.
func NewLimiter(client redis.UniversalClient, n int, window time.Duration, opts ...LimiterOption) (*Limiter, error) {
	switch {
	case client == nil:
		return nil, errors.New("redisstore: nil redis client")
	case n <= 0:
		return nil, fmt.Errorf("redisstore: limiter: n %d is not positive", n)
	case window < time.Millisecond:
		return nil, fmt.Errorf("redisstore: limiter: window %v is shorter than a millisecond", window)
	}
	cfg := limiterConfig{key: DefaultLimiterKey}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("redisstore: limiter option %d is nil", i)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	return &Limiter{
		rdb:    client,
		key:    cfg.key,
		n:      n,
		window: window,
		log:    cfg.log,
		admit:  redis.NewScript(limiterLua),
		meter:  intercom.NewMarginMeter(window),
	}, nil
}

// limiterLua keeps the admissions of the last window in a sorted set scored
// by their time in microseconds on the Redis clock.
//
// KEYS[1] the set; ARGV n, window in µs, a unique member. Admissions older
// than now-window are dropped; one at exactly now-window still counts, so no
// closed interval of length window ever holds more than n admissions.
// Returns {1, now} when admitted, else {0, µs until the oldest admission
// leaves the window}.
const limiterLua = `
local n, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', now - window))
if redis.call('ZCARD', KEYS[1]) < n then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return {1, now}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now + 1}
`

// Observe implements [intercom.Observer]: an *intercom.Client reports the
// latency of each request, from which the limiter sizes the margin it adds
// to the window between admissions (see [intercom.MarginMeter]). Each
// replica sizes its own margin from its own requests.
func (l *Limiter) Observe(o intercom.Observation) {
	// The admission was stamped during the round trip of the admitting
	// call, before o.Admitted: the latency from the stamp is at most that
	// round trip longer.
	l.meter.Observe(o.Answered.Sub(o.Admitted) + time.Duration(l.rtt.Load()))
}

// Margin returns the transit margin the limiter currently adds to its
// window.
func (l *Limiter) Margin() time.Duration { return l.meter.Margin() }

// Wait blocks until the shared budget admits one more call, and returns nil;
// or returns ctx's error (wrapped) once ctx is done, at once with an error
// matching context.DeadlineExceeded when the next free slot lies after
// ctx's deadline, or a Redis error. A call that returned an error used no
// budget.
func (l *Limiter) Wait(ctx context.Context) error {
	_, err := l.wait(ctx)
	return err
}

// wait is Wait that also returns the Redis time of the admission.
func (l *Limiter) wait(ctx context.Context) (time.Time, error) {
	member := newToken()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return time.Time{}, fmt.Errorf("redisstore: limiter: %w", err)
		}
		// Intercom counts a call when it arrives, not when Redis admitted it:
		// the margin between admissions, sized from measured latencies (see
		// Observe), absorbs transit jitter that would otherwise squeeze n+1
		// into one of Intercom's windows.
		sent := time.Now()
		res, err := l.admit.Run(ctx, l.rdb, []string{l.key}, l.n, (l.window + l.meter.Margin()).Microseconds(), member).Int64Slice()
		if err != nil {
			return time.Time{}, fmt.Errorf("redisstore: limiter: %w", err)
		}
		if len(res) != 2 {
			return time.Time{}, fmt.Errorf("redisstore: limiter: script reply has %d elements, want 2", len(res))
		}
		if res[0] == 1 {
			// The admission was stamped somewhere in this round trip,
			// which the client's latency (measured from the end of Wait)
			// does not see: the margin covers it too.
			rtt := time.Since(sent)
			l.rtt.Store(int64(rtt))
			l.meter.Observe(rtt)
			return time.UnixMicro(res[1]), nil
		}
		d := max(time.Duration(res[1])*time.Microsecond, 100*time.Microsecond)
		l.log.LogAttrs(ctx, slog.LevelDebug, "redisstore: limiter budget spent, waiting",
			slog.String("key", l.key), slog.Duration("wait", d))
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return time.Time{}, fmt.Errorf("redisstore: limiter: next slot in %v is after the deadline: %w", d, context.DeadlineExceeded)
		}
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("redisstore: limiter: %w", ctx.Err())
		case <-timer.C:
		}
	}
}

// Limit returns the limiter's budget: at most n calls per window, shared
// by every replica.
func (l *Limiter) Limit() (n int, window time.Duration) { return l.n, l.window }
