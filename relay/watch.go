package relay

import (
	"slices"
	"sync"
	"time"
)

// This file keeps what the operator API shows of the relay's recent
// dealings with the APIs, in this process only: admissions to the Intercom
// budget, the holds Intercom's 429 answers asked for, and Twilio's send
// failures by error code. Nothing here is stored; a restart forgets it.

// watch is safe for concurrent use.
type watch struct {
	now func() time.Time

	mu        sync.Mutex
	window    time.Duration
	admitted  []time.Time // admissions within the last window, oldest first
	holds     []Hold      // recent 429 answers, oldest first
	failures  []sendFailure
	maxRecent int
}

// Hold is one 429 answer from Intercom: the endpoint, when it came and how
// long Intercom asked the relay to wait.
type Hold struct {
	Endpoint   string        `json:"endpoint"`
	At         time.Time     `json:"at"`
	RetryAfter time.Duration `json:"retry_after_ns"`
}

// sendFailure is one text Twilio refused or failed to deliver.
type sendFailure struct {
	code  int // Twilio error code; 0 when Twilio gave none
	where string
	at    time.Time
}

func newWatch(window time.Duration) *watch {
	return &watch{now: time.Now, window: window, maxRecent: 200}
}

// admit records an admission to the Intercom budget.
func (w *watch) admit() {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	w.admitted = append(w.admitted, now)
	w.trim(now)
}

// trim drops admissions older than the window; called with mu held.
func (w *watch) trim(now time.Time) {
	i := 0
	for i < len(w.admitted) && now.Sub(w.admitted[i]) > w.window {
		i++
	}
	w.admitted = slices.Delete(w.admitted, 0, i)
}

// hold records a 429 from Intercom.
func (w *watch) hold(endpoint string, retryAfter time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.holds = append(w.holds, Hold{Endpoint: endpoint, At: w.now(), RetryAfter: retryAfter})
	if len(w.holds) > w.maxRecent {
		w.holds = slices.Delete(w.holds, 0, len(w.holds)-w.maxRecent)
	}
}

// failed records a send failure with Twilio's error code (0 for none);
// where is "send" (Twilio refused the request) or "status" (a failed or
// undelivered status callback).
func (w *watch) failed(code int, where string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failures = append(w.failures, sendFailure{code: code, where: where, at: w.now()})
	if len(w.failures) > w.maxRecent {
		w.failures = slices.Delete(w.failures, 0, len(w.failures)-w.maxRecent)
	}
}

// admittedNow counts the admissions in the current window.
func (w *watch) admittedNow() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.trim(w.now())
	return len(w.admitted)
}

// recentHolds returns the recorded 429 answers, newest first.
func (w *watch) recentHolds() []Hold {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := slices.Clone(w.holds)
	slices.Reverse(out)
	return out
}

// failuresByCode groups the recorded send failures by Twilio error code,
// most frequent first.
func (w *watch) failuresByCode() []SendFailures {
	w.mu.Lock()
	defer w.mu.Unlock()
	by := map[int]*SendFailures{}
	var out []*SendFailures
	for _, f := range w.failures {
		s := by[f.code]
		if s == nil {
			s = &SendFailures{Code: f.code}
			by[f.code] = s
			out = append(out, s)
		}
		s.Count++
		if f.where == "send" {
			s.Refused++
		} else {
			s.Undelivered++
		}
		if f.at.After(s.Last) {
			s.Last = f.at
		}
	}
	res := make([]SendFailures, len(out))
	for i, s := range out {
		res[i] = *s
	}
	slices.SortStableFunc(res, func(a, b SendFailures) int { return b.Count - a.Count })
	return res
}

// SendFailures counts recent texts that did not go out, for one Twilio
// error code.
type SendFailures struct {
	// Code is Twilio's error code; 0 when Twilio gave none.
	Code int `json:"code"`
	// Meaning is what the code means, when the relay knows it.
	Meaning string `json:"meaning,omitempty"`
	// Count is Refused + Undelivered.
	Count int `json:"count"`
	// Refused counts sends Twilio refused outright.
	Refused int `json:"refused"`
	// Undelivered counts texts Twilio accepted and then reported failed or
	// undelivered.
	Undelivered int `json:"undelivered"`
	// Last is when the newest of them happened.
	Last time.Time `json:"last"`
}
