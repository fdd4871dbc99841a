// Package lateness measures how late the Go scheduler wakes a sleeping
// goroutine. Tests of the Intercom budget use it: Intercom counts a request
// when it arrives, and a request delayed after its admission by more than
// the limiter's transit margin can land in the window of a later one. On a
// machine loaded past that point (several race-detector suites on two
// cores), a 429 says more about the machine than about the budget.
package lateness

import (
	"sync"
	"time"
)

// Probe sleeps a millisecond at a time in a goroutine of its own and
// records the greatest delay past each wake-up it asked for.
type Probe struct {
	done chan struct{}
	max  chan time.Duration
	once sync.Once
	late time.Duration
}

// Start starts a probe; call Stop when the measured work ends.
func Start() *Probe {
	p := &Probe{done: make(chan struct{}), max: make(chan time.Duration, 1)}
	go func() {
		var most time.Duration
		for {
			select {
			case <-p.done:
				p.max <- most
				return
			default:
			}
			start := time.Now()
			time.Sleep(time.Millisecond)
			most = max(most, time.Since(start)-time.Millisecond)
		}
	}()
	return p
}

// Stop ends the probe and returns the greatest lateness it saw. Later
// calls return the same figure.
func (p *Probe) Stop() time.Duration {
	p.once.Do(func() {
		close(p.done)
		p.late = <-p.max
	})
	return p.late
}
