package intercom

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Limiter paces requests. Wait blocks until one more request may be sent,
// or returns an error (wrapping the context's error) when ctx ends first.
// Implementations must be safe for concurrent use.
//
// [*WindowLimiter] is the implementation the client uses by default; a
// *rate.Limiter from golang.org/x/time/rate satisfies the interface too, but
// see [NewWindowLimiter] for why a token bucket is the wrong tool for
// Intercom's budget.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Intercom's default request budget, which [NewClient]'s default limiter
// keeps to: at most DefaultLimit requests in any DefaultWindow. Intercom
// counts requests per app and workspace in 10-second windows. 83 per
// window (500 a minute) is a conservative figure: Intercom's documentation
// names larger defaults for some apps, but 500 a minute is what some
// workspaces observe. A workspace known to have more can pass its own
// limiter with [WithLimiter].
const (
	DefaultLimit  = 83
	DefaultWindow = 10 * time.Second
)

// WindowLimiter admits at most n requests in any time window of a given
// length, however that window is placed: a sliding-window limiter. It keeps
// the times of the last n admissions in a ring and admits a new request only
// once the oldest of them lies more than a full window in the past.
//
// Proof sketch: call the admission times a₁ ≤ a₂ ≤ …. The ring makes
// a_{k+n} − a_k > window for every k, so a closed interval of length window
// that contains a_k cannot contain a_{k+n}; it holds at most n admissions.
//
// Intercom counts a request when it arrives, not when it leaves, and
// requests take varying times on the way. So that jitter cannot squeeze
// n+1 arrivals into one of Intercom's windows, the limiter spaces
// admissions by the window plus a transit margin: [TransitMargin] (one
// second for the default 10-second window) until the client has measured
// some latencies, then what a [MarginMeter] derives from them (50 ms on a
// fast network). It also stays in step with Intercom's own count (see
// [WindowLimiter.Observe]), which other processes that draw on the same
// workspace without sharing this limiter move too.
//
// Waiters are not served in strict arrival order; each retries when the
// oldest admission leaves the window. A WindowLimiter is safe for
// concurrent use; share one among all clients of a process that draw on the
// same Intercom workspace budget.
type WindowLimiter struct {
	n      int
	window time.Duration
	meter  *MarginMeter // the margin added to window for transit jitter
	now    func() time.Time

	mu    sync.Mutex
	ring  []time.Time // admission times; ring[head] is the oldest when full
	head  int
	count int

	onAdmit func(time.Time) // test hook, called under mu
}

// NewWindowLimiter returns a limiter that admits at most n requests in any
// window of length window. Intercom counts its budget per 10-second
// window; NewWindowLimiter(DefaultLimit, DefaultWindow) is the default of
// [NewClient].
//
// A token bucket (rate.NewLimiter(rate.Limit(n/window), n)) does not give
// this guarantee: a full bucket lets n requests through at once and then
// refills at n per window, so one window can see nearly 2n requests.
//
// NewWindowLimiter panics if n or window is not positive, like
// time.NewTicker does for a non-positive period.
func NewWindowLimiter(n int, window time.Duration) *WindowLimiter {
	if n <= 0 {
		panic(fmt.Sprintf("intercom: NewWindowLimiter: n must be positive, got %d", n))
	}
	if window <= 0 {
		panic(fmt.Sprintf("intercom: NewWindowLimiter: window must be positive, got %v", window))
	}
	return &WindowLimiter{n: n, window: window, meter: NewMarginMeter(window), now: time.Now, ring: make([]time.Time, n)}
}

// TransitMargin is the time a limiter adds to window between the admission of
// a request and that of the n-th request after it, to absorb the varying
// time requests take to reach Intercom: a tenth of the window, and at least
// 200ms. Limiters that share a budget with this package's (such as
// redisstore's) use the same margin.
func TransitMargin(window time.Duration) time.Duration {
	return max(window/10, 200*time.Millisecond)
}

// Limit returns the limiter's budget: at most n requests per window.
func (l *WindowLimiter) Limit() (n int, window time.Duration) { return l.n, l.window }

// Wait blocks until a request may be sent under the budget and records it
// as sent. It returns an error wrapping ctx.Err() if ctx ends first, and
// returns at once (without waiting) when ctx's deadline comes before the
// earliest moment a request could be admitted. A Wait that returns an
// error consumes no budget.
func (l *WindowLimiter) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("intercom: limiter: %w", err)
		}
		wake, ok := l.tryAdmit()
		if ok {
			return nil
		}
		if dl, has := ctx.Deadline(); has && dl.Before(wake) {
			return fmt.Errorf("intercom: limiter: next slot at %s is after the deadline: %w",
				wake.Format(time.RFC3339Nano), context.DeadlineExceeded)
		}
		d := wake.Sub(l.now())
		if d <= 0 {
			d = time.Millisecond // the slot is due; let the clock move on
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("intercom: limiter: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// tryAdmit admits a request now if the budget allows, or says when the
// next slot frees up.
func (l *WindowLimiter) tryAdmit() (wake time.Time, ok bool) {
	span := l.window + l.meter.Margin()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.admitAt(l.now(), span)
}

// admitAt is tryAdmit at a given time, with admissions spaced by span;
// l.mu must be held.
func (l *WindowLimiter) admitAt(now time.Time, span time.Duration) (wake time.Time, ok bool) {
	if l.count < l.n {
		l.ring[(l.head+l.count)%l.n] = now
		l.count++
	} else {
		oldest := l.ring[l.head]
		if now.Sub(oldest) <= span {
			return oldest.Add(span + 1), false
		}
		l.ring[l.head] = now
		l.head = (l.head + 1) % l.n
	}
	if l.onAdmit != nil {
		l.onAdmit(now)
	}
	return time.Time{}, true
}

// Margin returns the transit margin the limiter currently adds to its
// window (see [MarginMeter]).
func (l *WindowLimiter) Margin() time.Duration { return l.meter.Margin() }

// Observe implements [Observer]; a [Client] calls it after each attempt.
// The latency from o.Admitted to o.Answered sizes the transit margin.
//
// o.Remaining keeps the limiter in step with Intercom's own count. When
// that count (the budget less o.Remaining) is higher than the admissions
// the limiter made in the window before o's request (which have arrived
// before it, give or take the jitter the margin covers), someone else is
// spending the same budget: another process, or a client with a limiter of
// its own. The limiter records the difference as admissions made now, so
// that, however Intercom's window is placed, it admits no more than
// Intercom will accept. When the count is the limiter's own, it changes
// nothing, and the limiter goes on at the pace of its window.
func (l *WindowLimiter) Observe(o Observation) {
	l.meter.Observe(o.Answered.Sub(o.Admitted))
	if o.Remaining < 0 {
		return
	}
	span := l.window + l.meter.Margin()
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	used, before := 0, 0
	for i := range l.count {
		t := l.ring[(l.head+i)%l.n]
		if now.Sub(t) <= span {
			used++
		}
		if !t.After(o.Admitted) && o.Admitted.Sub(t) <= l.window {
			before++
		}
	}
	others := min(l.n-o.Remaining-before, l.n-used)
	for ; others > 0; others-- {
		// Each fills a free slot: either the ring is not full or its
		// oldest entry has left the window.
		if l.count < l.n {
			l.ring[(l.head+l.count)%l.n] = now
			l.count++
		} else {
			l.ring[l.head] = now
			l.head = (l.head + 1) % l.n
		}
	}
}

// admissionKey is the context key of ContextWithAdmission.
type admissionKey struct{}

// admission is the budget a call is charged to, and whether its first slot
// was already taken by the caller.
type admission struct {
	l     Limiter
	fresh bool
	at    time.Time // when the caller's Wait returned, about
}

// ContextWithAdmission charges calls made with ctx to the budget l instead of
// the client's own limiter, and records that the caller has already waited
// on l for the call it is about to make. A caller that owns the process
// budget (the relay, say) waits on its limiter, then passes
// ContextWithAdmission(ctx, lim) to a client method: the first attempt of
// that call goes out at once, and everything else the call sends (retries,
// the second request of a call that makes two, such as a conflict recovery
// or a merged-contact lookup, and a first attempt that had to be held for
// Intercom's rate-limit reset, whose admission is stale by then) waits on l
// again. So one budget governs the call, whichever client or wrapper it
// passes through.
//
// A nil l returns ctx unchanged.
func ContextWithAdmission(ctx context.Context, l Limiter) context.Context {
	if l == nil {
		return ctx
	}
	return context.WithValue(ctx, admissionKey{}, admission{l: l, fresh: true, at: time.Now()})
}

// budgetFor returns the limiter a call made with ctx is charged to, and
// whether the caller already took its first slot.
func (c *Client) budgetFor(ctx context.Context) (Limiter, bool) {
	if a, ok := ctx.Value(admissionKey{}).(admission); ok {
		return a.l, a.fresh
	}
	return c.limiter, false
}

// admittedAt returns when the caller's admission in ctx was made, zero if
// there is none.
func admittedAt(ctx context.Context) time.Time {
	a, _ := ctx.Value(admissionKey{}).(admission)
	return a.at
}

// withoutAdmission marks the admission in ctx as used, for follow-up
// requests: they stay on the same budget but wait for a slot of their own.
func withoutAdmission(ctx context.Context) context.Context {
	a, ok := ctx.Value(admissionKey{}).(admission)
	if !ok || !a.fresh {
		return ctx
	}
	return context.WithValue(ctx, admissionKey{}, admission{l: a.l})
}

// gate holds requests back while Intercom says the shared budget is spent:
// after an answer with X-RateLimit-Remaining: 0, or a 429, until the reset
// time. All requests of a client pass through its gate, so concurrent
// calls (and, through Intercom's shared counters, other processes) back
// off together.
type gate struct {
	mu    sync.Mutex
	until time.Time
}

// maxHold caps how long one answer can hold the client back, in case the
// reset time is far off because of clock skew. Intercom's windows last 10 s.
const maxHold = time.Minute

// hold keeps requests back until t (capped at maxHold from now).
func (g *gate) hold(now, t time.Time) {
	if limit := now.Add(maxHold); t.After(limit) {
		t = limit
	}
	g.mu.Lock()
	if t.After(g.until) {
		g.until = t
	}
	g.mu.Unlock()
}

// heldUntil returns the time requests are held until (zero if none).
func (g *gate) heldUntil() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until
}

// sleepUntil waits until t or until ctx ends.
func sleepUntil(ctx context.Context, now, t time.Time) error {
	d := t.Sub(now)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
