package intercom

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// maxInWindow returns the largest number of times that fall in one closed
// interval of length window. times must be sorted.
func maxInWindow(times []time.Time, window time.Duration) int {
	most, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) > window {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

func TestMaxInWindow(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			ts = append(ts, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return ts
	}
	tests := []struct {
		times []time.Time
		want  int
	}{
		{nil, 0},
		{at(0), 1},
		{at(0, 100, 200), 3}, // closed interval [0,200]
		{at(0, 100, 201), 2},
		{at(0, 0, 0, 500, 500), 3},
	}
	for _, tt := range tests {
		if got := maxInWindow(tt.times, 200*time.Millisecond); got != tt.want {
			t.Errorf("maxInWindow(%v) = %d, want %d", tt.times, got, tt.want)
		}
	}
}

// TestTokenBucketOvershoots documents why the client does not use a plain
// token bucket: rate.NewLimiter(n/window, n) admits nearly 2n requests in
// one window.
func TestTokenBucketOvershoots(t *testing.T) {
	const n, window = 83, 10 * time.Second
	tb := rate.NewLimiter(rate.Limit(float64(n)/window.Seconds()), n)
	wl := NewWindowLimiter(n, window)
	t0 := time.Now()
	var tbTimes, wlTimes []time.Time
	// Offer a request every 10 ms for 30 s of simulated time.
	for ms := 0; ms < 30000; ms += 10 {
		now := t0.Add(time.Duration(ms) * time.Millisecond)
		if tb.AllowN(now, 1) {
			tbTimes = append(tbTimes, now)
		}
		wl.mu.Lock()
		if _, ok := wl.admitAt(now, window+wl.Margin()); ok {
			wlTimes = append(wlTimes, now)
		}
		wl.mu.Unlock()
	}
	if got := maxInWindow(tbTimes, window); got <= n {
		t.Errorf("token bucket admitted at most %d per window; expected it to overshoot %d", got, n)
	}
	if got := maxInWindow(wlTimes, window); got != n {
		t.Errorf("window limiter admitted up to %d per window, want exactly %d", got, n)
	}
}

func TestWindowLimiterMargin(t *testing.T) {
	l := NewWindowLimiter(2, time.Second)
	t0 := time.Now()
	for i := 0; i < 2; i++ {
		if _, ok := l.admitAt(t0, 1200*time.Millisecond); !ok {
			t.Fatal("the first two requests were not admitted")
		}
	}
	// One window later the budget would allow the next request, but
	// transit jitter could still land it in the same window at Intercom.
	wake, ok := l.admitAt(t0.Add(time.Second+time.Millisecond), time.Second+l.Margin())
	if ok {
		t.Fatal("a request was admitted inside the jitter margin")
	}
	if want := t0.Add(1200*time.Millisecond + 1); !wake.Equal(want) {
		t.Errorf("wake at +%v, want +%v", wake.Sub(t0), want.Sub(t0))
	}
	if _, ok := l.admitAt(t0.Add(1200*time.Millisecond+1), time.Second+l.Margin()); !ok {
		t.Error("a request after window and margin was refused")
	}
}

func TestTransitMargin(t *testing.T) {
	for window, want := range map[time.Duration]time.Duration{
		10 * time.Second:       time.Second,
		time.Minute:            6 * time.Second,
		time.Second:            200 * time.Millisecond,
		100 * time.Millisecond: 200 * time.Millisecond,
	} {
		if got := TransitMargin(window); got != want {
			t.Errorf("TransitMargin(%v) = %v, want %v", window, got, want)
		}
	}
}

func TestWindowLimiterAdmitAt(t *testing.T) {
	l := NewWindowLimiter(3, time.Second)
	t0 := time.Now()
	steps := []struct {
		at   time.Duration
		ok   bool
		wake time.Duration // when !ok: the earliest retry
	}{
		{0, true, 0},
		{100 * time.Millisecond, true, 0},
		{100 * time.Millisecond, true, 0},
		{500 * time.Millisecond, false, time.Second + 1},
		{time.Second, false, time.Second + 1}, // exactly one window later: still inside the closed window
		{time.Second + 1, true, 0},
		{time.Second + 50*time.Millisecond, false, 1100*time.Millisecond + 1},
		{1100*time.Millisecond + 1, true, 0},
		{1100*time.Millisecond + 1, true, 0},
		{1100*time.Millisecond + 2, false, 2*time.Second + 2},
		{5 * time.Second, true, 0},
	}
	for i, s := range steps {
		l.mu.Lock()
		wake, ok := l.admitAt(t0.Add(s.at), time.Second) // the window rule alone; TestWindowLimiterMargin covers the margin
		l.mu.Unlock()
		if ok != s.ok {
			t.Fatalf("step %d at %v: ok = %v, want %v", i, s.at, ok, s.ok)
		}
		if !ok && !wake.Equal(t0.Add(s.wake)) {
			t.Errorf("step %d: wake at +%v, want +%v", i, wake.Sub(t0), s.wake)
		}
	}
}

// TestWindowLimiterNeverExceeds drives 300 concurrent Waits through a
// scaled-down budget (20 per 100 ms) and checks the recorded admission
// times: no closed window of 100 ms ever holds more than 20.
func TestWindowLimiterNeverExceeds(t *testing.T) {
	const n, window, total = 20, 100 * time.Millisecond, 300
	l := NewWindowLimiter(n, window)
	var mu sync.Mutex
	var admitted []time.Time
	l.onAdmit = func(at time.Time) { // called under l.mu
		mu.Lock()
		admitted = append(admitted, at)
		mu.Unlock()
	}
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan struct{})
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if err := l.Wait(context.Background()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for range total {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)

	if len(admitted) != total {
		t.Fatalf("%d admissions, want %d", len(admitted), total)
	}
	if !sort.SliceIsSorted(admitted, func(i, j int) bool { return admitted[i].Before(admitted[j]) }) {
		t.Fatal("admission times out of order")
	}
	if got := maxInWindow(admitted, window); got > n {
		t.Errorf("%d admissions within one window, limit %d", got, n)
	}
	for i := n; i < len(admitted); i++ {
		if gap := admitted[i].Sub(admitted[i-n]); gap <= window {
			t.Fatalf("admissions %d and %d only %v apart", i-n, i, gap)
		}
	}
	// 300 at 20 per window need at least 14 full windows after the first burst.
	if floor := time.Duration(total/n-1) * window; elapsed < floor {
		t.Errorf("took %v, faster than the budget allows (%v)", elapsed, floor)
	}
	// The first n go through at once.
	if first := admitted[n-1].Sub(admitted[0]); first > window/2 {
		t.Errorf("first burst of %d took %v", n, first)
	}
}

func TestWindowLimiterContext(t *testing.T) {
	l := NewWindowLimiter(1, time.Hour)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The next slot is an hour away: a short deadline fails at once.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := l.Wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Errorf("err = %v after %v", err, time.Since(start))
	}
	// Cancellation while waiting.
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel2() }()
	if err := l.Wait(ctx2); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	// A failed Wait consumes no budget.
	l2 := NewWindowLimiter(1, 50*time.Millisecond)
	ctx3, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if err := l2.Wait(ctx3); err == nil {
		t.Error("Wait with a canceled context succeeded")
	}
	start = time.Now()
	if err := l2.Wait(context.Background()); err != nil || time.Since(start) > 25*time.Millisecond {
		t.Errorf("budget consumed by a failed Wait: %v after %v", err, time.Since(start))
	}
}

func TestNewWindowLimiterPanics(t *testing.T) {
	for _, tt := range []struct {
		n int
		w time.Duration
	}{{0, time.Second}, {-1, time.Second}, {1, 0}, {1, -time.Second}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewWindowLimiter(%d, %v) did not panic", tt.n, tt.w)
				}
			}()
			NewWindowLimiter(tt.n, tt.w)
		}()
	}
}

func TestAdmission(t *testing.T) {
	a, b := NewWindowLimiter(1, time.Second), NewWindowLimiter(1, time.Second)
	c := &Client{limiter: a}
	ctx := context.Background()
	tests := []struct {
		name      string
		ctx       context.Context
		wantLim   Limiter
		wantFresh bool
	}{
		{"no admission", ctx, a, false},
		{"own limiter", ContextWithAdmission(ctx, a), a, true},
		{"caller's budget", ContextWithAdmission(ctx, b), b, true},
		{"nil admission", ContextWithAdmission(ctx, nil), a, false},
		{"used", withoutAdmission(ContextWithAdmission(ctx, b)), b, false},
		{"used twice", withoutAdmission(withoutAdmission(ContextWithAdmission(ctx, b))), b, false},
	}
	for _, tt := range tests {
		lim, fresh := c.budgetFor(tt.ctx)
		if lim != tt.wantLim || fresh != tt.wantFresh {
			t.Errorf("%s: budgetFor = (%p, %v), want (%p, %v)", tt.name, lim, fresh, tt.wantLim, tt.wantFresh)
		}
	}
}

// TestWindowLimiterObserve checks how answers move the limiter: latencies
// size the margin within its bounds, and Intercom's count keeps the
// limiter in step when someone else spends the budget, and only then.
func TestWindowLimiterObserve(t *testing.T) {
	t.Run("Margin", func(t *testing.T) {
		l := NewWindowLimiter(5, 10*time.Second)
		if got := l.Margin(); got != time.Second {
			t.Fatalf("margin before any answer = %v, want TransitMargin's 1s", got)
		}
		t0 := time.Now()
		l.Observe(Observation{Admitted: t0, Answered: t0.Add(2 * time.Millisecond), Remaining: -1})
		if got := l.Margin(); got != MinTransitMargin {
			t.Errorf("margin after a 2ms answer = %v, want the floor %v", got, MinTransitMargin)
		}
		l.Observe(Observation{Admitted: t0, Answered: t0.Add(300 * time.Millisecond), Remaining: -1})
		if got := l.Margin(); got != 300*time.Millisecond {
			t.Errorf("margin after a 300ms answer = %v, want that latency", got)
		}
		l.Observe(Observation{Admitted: t0, Answered: t0.Add(time.Minute), Remaining: -1})
		if got := l.Margin(); got != 5*time.Second {
			t.Errorf("margin after a 1m answer = %v, want the ceiling of half the window", got)
		}
	})
	t.Run("OwnCountChangesNothing", func(t *testing.T) {
		l := NewWindowLimiter(5, time.Second)
		t0 := time.Now()
		l.now = func() time.Time { return t0.Add(10 * time.Millisecond) }
		l.mu.Lock()
		l.admitAt(t0, time.Second)
		l.admitAt(t0.Add(time.Millisecond), time.Second)
		l.mu.Unlock()
		// The second request's answer: Intercom counted both, 3 remain.
		l.Observe(Observation{Admitted: t0.Add(time.Millisecond), Answered: t0.Add(5 * time.Millisecond), Remaining: 3})
		if l.count != 2 {
			t.Errorf("the limiter holds %d admissions after an answer that counts only its own, want 2", l.count)
		}
	})
	t.Run("OthersSpending", func(t *testing.T) {
		l := NewWindowLimiter(5, time.Second)
		t0 := time.Now()
		now := t0.Add(10 * time.Millisecond)
		l.now = func() time.Time { return now }
		l.mu.Lock()
		l.admitAt(t0, time.Second)
		l.admitAt(t0.Add(time.Millisecond), time.Second)
		l.admitAt(t0.Add(2*time.Millisecond), time.Second) // in flight, after the answered one
		l.mu.Unlock()
		// The second request's answer says 1 remains: Intercom counted 4,
		// the limiter had admitted 2 by then, so 2 came from elsewhere.
		l.Observe(Observation{Admitted: t0.Add(time.Millisecond), Answered: t0.Add(5 * time.Millisecond), Remaining: 1})
		if l.count != 5 {
			t.Fatalf("the limiter holds %d admissions, want 5 (3 own, 2 of others)", l.count)
		}
		l.mu.Lock()
		_, ok := l.admitAt(now, time.Second)
		l.mu.Unlock()
		if ok {
			t.Error("the limiter admitted a request Intercom has no room for")
		}
		// Counts already matched and a spent budget add nothing more.
		l.Observe(Observation{Admitted: t0.Add(2 * time.Millisecond), Answered: now, Remaining: 0})
		if l.count != 5 {
			t.Errorf("the limiter holds %d admissions, want still 5", l.count)
		}
	})
}
