package intercom

import (
	"sync"
	"time"
)

// Observation is what a [Client] learned from one request it sent: when the
// limiter admitted it, when its answer was read (or the attempt failed), and
// Intercom's count of what is left of the budget.
type Observation struct {
	// Admitted is when the limiter admitted the request, on the local
	// clock: the end of the client's own Wait, or the moment the caller
	// called [ContextWithAdmission] after its Wait.
	Admitted time.Time
	// Answered is when the answer was read, or when the attempt failed.
	Answered time.Time
	// Remaining is the answer's X-RateLimit-Remaining: how many requests
	// Intercom will still accept in its current window, this one counted.
	// -1 when the answer had none (a failure without an answer, or a
	// server that does not send the header).
	Remaining int
}

// Observer is an optional capability of a [Limiter]: a [Client] hands it an
// [Observation] after every attempt it made under that limiter, from the
// goroutine that made the call. [*WindowLimiter] uses it to size its transit
// margin from the measured latency and to stay in step with Intercom's own
// counter; the shared limiters of pgstore and redisstore size their margin
// the same way.
type Observer interface {
	Observe(o Observation)
}

// Bounds of the transit margin a [MarginMeter] derives from latencies.
const (
	// MinTransitMargin is the least margin kept between admissions whatever
	// the measured latency: it covers the moments between a limiter's
	// stamp and the request leaving, which no answer measures, and a
	// scheduling delay on a busy machine.
	MinTransitMargin = 50 * time.Millisecond
	// marginSamples is how many recent latencies a MarginMeter keeps.
	marginSamples = 128
)

// MarginMeter derives the transit margin of a sliding-window limiter from
// the latencies of recent requests.
//
// Intercom counts a request when it arrives. Two requests admitted at a and
// a' arrive at a+d and a'+d', where d and d' are their transit times, so a
// limiter that spaces the k-th and (k+n)-th admission by window + m keeps
// every window of arrivals within the budget as long as d' − d ≤ m for
// the later request. The transit time of a request is less than its
// latency (admission to answer: transit both ways and Intercom's own
// work), and d' − d ≤ d'; so a margin of the largest latency of the last
// 128 requests is safe as long as the next request is no slower than the
// slowest of those, and in practice by far more, since d is rarely much
// shorter than d'. It is bounded below by [MinTransitMargin] and above by half the
// window; until the first latency is observed, it is [TransitMargin]. A
// fast network thus loses little of the budget (50 ms in 10 s), a slow one
// stays safe.
//
// A MarginMeter is safe for concurrent use. The zero value is not usable;
// create one with [NewMarginMeter].
type MarginMeter struct {
	window time.Duration

	mu      sync.Mutex
	samples [marginSamples]time.Duration
	next    int
	count   int
	margin  time.Duration
}

// NewMarginMeter returns a meter for a limiter of the given window, which
// must be positive.
func NewMarginMeter(window time.Duration) *MarginMeter {
	if window <= 0 {
		panic("intercom: NewMarginMeter: window must be positive")
	}
	return &MarginMeter{window: window, margin: TransitMargin(window)}
}

// Observe records the latency of one request: from its admission to its
// answer. Negative latencies are ignored.
func (m *MarginMeter) Observe(latency time.Duration) {
	if latency < 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples[m.next] = latency
	m.next = (m.next + 1) % marginSamples
	m.count = min(m.count+1, marginSamples)
	var worst time.Duration
	for _, d := range m.samples[:m.count] {
		worst = max(worst, d)
	}
	m.margin = min(max(worst, MinTransitMargin), m.window/2)
}

// Margin returns the margin to add to the window between an admission and
// the n-th after it.
func (m *MarginMeter) Margin() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.margin
}
