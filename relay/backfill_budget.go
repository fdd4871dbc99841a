package relay

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Live texts first. A backfill's Intercom calls go through the same budget
// as every other call (intercomRoute.admit), after a gate of their own
// that keeps headroom for live calls:
//
//   - a backfill call goes only while all calls of the last window, live
//     and backfill, number fewer than BackfillShare of the budget: the
//     rest of the budget is always free for a burst of live calls, and
//     the more live calls there are, the fewer the backfill makes;
//   - and never while a live call is waiting for the budget.
//
// The gate is per process: replicas that run backfill jobs at once each
// see only their own calls.

// BackfillShare is the share of the Intercom budget above which a
// backfill makes no call: three quarters, so that at least a quarter of
// the budget is free for live calls at any moment.
const BackfillShare = 0.75

// livePoll is how often a backfill call held back looks again.
const livePoll = 2 * time.Millisecond

// backfillGate admits a backfill's Intercom calls.
type backfillGate struct {
	window time.Duration
	cap    int // calls in a window above which a backfill waits
	mu     sync.Mutex
	recent []time.Time // calls admitted in the last window, oldest first
}

// newBackfillGate sizes the gate from the budget: its Limit when it tells
// one (the shipped limiters do), else rateLimit per rateWindow.
func newBackfillGate(budget Limiter, rateLimit int) *backfillGate {
	n, window := rateLimit, rateWindow
	if l, ok := budget.(interface{ Limit() (int, time.Duration) }); ok {
		if ln, lw := l.Limit(); ln > 0 && lw > 0 {
			n, window = ln, lw
		}
	}
	if n <= 0 {
		n = defaultRateLimit
	}
	return &backfillGate{window: window, cap: max(1, int(float64(n)*BackfillShare))}
}

type backfillGateKey struct{}

// withBackfillGate marks ctx as a backfill's: its Intercom calls pass g.
func withBackfillGate(ctx context.Context, g *backfillGate) context.Context {
	return context.WithValue(ctx, backfillGateKey{}, g)
}

// backfillGateOf returns the gate ctx was marked with, or nil for a live
// call.
func backfillGateOf(ctx context.Context) *backfillGate {
	g, _ := ctx.Value(backfillGateKey{}).(*backfillGate)
	return g
}

// prune forgets calls older than the window; g.mu is held.
func (g *backfillGate) prune(now time.Time) {
	i := 0
	for i < len(g.recent) && now.Sub(g.recent[i]) > g.window {
		i++
	}
	g.recent = append(g.recent[:0], g.recent[i:]...)
}

// noteLive counts a live call admitted now.
func (g *backfillGate) noteLive() {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	g.prune(now)
	g.recent = append(g.recent, now)
}

// wait admits one backfill call: while the calls of the last window are
// fewer than the gate's cap, and no live call waits for the budget.
func (g *backfillGate) wait(ctx context.Context, liveWaiting *atomic.Int64) error {
	for {
		delay := livePoll
		if liveWaiting.Load() == 0 {
			g.mu.Lock()
			now := time.Now()
			g.prune(now)
			if len(g.recent) < g.cap {
				g.recent = append(g.recent, now)
				g.mu.Unlock()
				return nil
			}
			delay = max(delay, g.recent[0].Add(g.window).Sub(now))
			g.mu.Unlock()
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}
