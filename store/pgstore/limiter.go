package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsrelay/smsrelay/intercom"
)

// DefaultLimiterKey is the budget key of a [Limiter] created without
// [WithLimiterKey].
const DefaultLimiterKey = "intercom"

// Limiter is a sliding-window rate limiter shared by every process that
// uses the same schema and key in one PostgreSQL database: in any window of
// length window, at most n calls to [Limiter.Wait] return nil, across all
// processes together, counted on the database's clock. It satisfies the
// Limiter interfaces of packages intercom and relay, so that a deployment
// that runs PostgreSQL only gets one Intercom budget for all its replicas.
// Create it with [NewLimiter] after running [Migrate]; it is safe for
// concurrent use.
//
// Intercom counts a request when it arrives; the limiter spaces the k-th
// and (k+n)-th admission by the window plus a margin sized from measured
// latencies (see [Limiter.Observe]).
//
// Each admission attempt is one statement (an INSERT … ON CONFLICT DO
// UPDATE on one row per key); a refused attempt sleeps until the oldest
// admission leaves the window and tries again.
type Limiter struct {
	pool   *pgxpool.Pool
	key    string
	n      int
	window time.Duration
	log    *slog.Logger
	sql    string
	meter  *intercom.MarginMeter
	rtt    atomic.Int64 // nanoseconds of the last admitting round trip
}

// LimiterOption configures a [Limiter].
type LimiterOption func(*limiterConfig) error

type limiterConfig struct {
	schema string
	key    string
	log    *slog.Logger
}

// WithLimiterSchema sets the schema holding the budget table (default
// [DefaultSchema]); use the schema given to [Migrate] and [New]. The name
// follows the rules of [WithSchema].
func WithLimiterSchema(name string) LimiterOption {
	return func(c *limiterConfig) error {
		if err := validateSchema(name); err != nil {
			return err
		}
		c.schema = name
		return nil
	}
}

// WithLimiterKey sets the key of the budget (default [DefaultLimiterKey]).
// Limiters that share a budget must use the same schema, key, n and window;
// give each Intercom workspace its own key.
func WithLimiterKey(key string) LimiterOption {
	return func(c *limiterConfig) error {
		if key == "" {
			return errors.New("pgstore: empty limiter key")
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
// length window, counted in PostgreSQL so that all replicas share the
// budget. Intercom enforces its budget per 10-second window, so use window
// = 10 * time.Second and n = the app's per-minute limit divided by six; the
// intercom package's cautious default is n = [intercom.DefaultLimit]. n
// must be positive and window at least a millisecond. NewLimiter does no
// I/O; the table it uses is created by [Migrate].
func NewLimiter(pool *pgxpool.Pool, n int, window time.Duration, opts ...LimiterOption) (*Limiter, error) {
	switch {
	case pool == nil:
		return nil, errors.New("pgstore: limiter: nil pool")
	case n <= 0:
		return nil, fmt.Errorf("pgstore: limiter: n %d is not positive", n)
	case window < time.Millisecond:
		return nil, fmt.Errorf("pgstore: limiter: window %v is shorter than a millisecond", window)
	}
	cfg := limiterConfig{schema: DefaultSchema, key: DefaultLimiterKey}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("pgstore: limiter option %d is nil", i)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	q, err := loadQueries(cfg.schema)
	if err != nil {
		return nil, err
	}
	return &Limiter{
		pool:   pool,
		key:    cfg.key,
		n:      n,
		window: window,
		log:    cfg.log,
		sql:    q.admitBudget,
		meter:  intercom.NewMarginMeter(window),
	}, nil
}

// Observe implements [intercom.Observer]: an *intercom.Client reports the
// latency of each request, from which the limiter sizes the margin it adds
// to the window between admissions (see [intercom.MarginMeter]). Every
// replica sizes its own margin from its own requests: the margin protects
// the request being admitted, whose transit time is what matters.
func (l *Limiter) Observe(o intercom.Observation) {
	// The admission was stamped during the round trip of the admitting
	// call, before o.Admitted: the latency from the stamp is at most that
	// round trip longer.
	l.meter.Observe(o.Answered.Sub(o.Admitted) + time.Duration(l.rtt.Load()))
}

// Margin returns the transit margin the limiter currently adds to its
// window.
func (l *Limiter) Margin() time.Duration { return l.meter.Margin() }

// Limit returns the limiter's budget: at most n requests per window.
func (l *Limiter) Limit() (n int, window time.Duration) { return l.n, l.window }

// Wait blocks until the shared budget admits one more call, and returns nil;
// or returns ctx's error (wrapped) once ctx is done, at once with an error
// matching context.DeadlineExceeded when the next free slot lies after
// ctx's deadline, or a database error. A call that returned an error used
// no budget, unless the error came after
// the statement reached the database and its answer was lost, in which case
// it may have used one slot.
func (l *Limiter) Wait(ctx context.Context) error {
	_, err := l.wait(ctx)
	return err
}

// wait is Wait that also returns the database time of the admission.
func (l *Limiter) wait(ctx context.Context) (time.Time, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return time.Time{}, fmt.Errorf("pgstore: limiter: %w", err)
		}
		// Intercom counts a call when it arrives, not when the database
		// admitted it: the margin keeps transit jitter from squeezing n+1
		// arrivals into one of Intercom's windows.
		span := l.window + l.meter.Margin()
		var (
			granted    bool
			at, oldest time.Time
		)
		sent := time.Now()
		if err := l.pool.QueryRow(ctx, l.sql, l.key, l.n, micros(span)).Scan(&granted, &at, &oldest); err != nil {
			return time.Time{}, fmt.Errorf("pgstore: limiter: %w", err)
		}
		if granted {
			// The admission was stamped somewhere in this round trip,
			// which the client's latency (measured from the end of Wait)
			// does not see: the margin covers it too.
			rtt := time.Since(sent)
			l.rtt.Store(int64(rtt))
			l.meter.Observe(rtt)
			return at, nil
		}
		d := max(oldest.Add(span).Sub(at)+time.Microsecond, 100*time.Microsecond)
		l.log.LogAttrs(ctx, slog.LevelDebug, "pgstore: limiter budget spent, waiting",
			slog.String("key", l.key), slog.Duration("wait", d))
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return time.Time{}, fmt.Errorf("pgstore: limiter: next slot in %v is after the deadline: %w", d, context.DeadlineExceeded)
		}
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("pgstore: limiter: %w", ctx.Err())
		case <-timer.C:
		}
	}
}
