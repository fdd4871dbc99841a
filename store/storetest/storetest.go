package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
)

// Backend is what the suite tests: a value that is both a [store.Store] and
// a [store.Queue].
type Backend interface {
	store.Store
	store.Queue
}

// Durations used throughout the suite. They are short, so that the suite is
// quick, and the waits around them poll with deadlines far longer than them,
// so that a slow shared backend still passes.
const (
	shortLease = 300 * time.Millisecond // a lease meant to lapse
	longLease  = 30 * time.Second       // a lease meant to hold for the test
	shortTTL   = 300 * time.Millisecond // a TTL meant to run out
	longTTL    = 10 * time.Minute       // a TTL meant to hold for the test
	retryDelay = 400 * time.Millisecond // a Retry delay
	waitFor    = 5 * time.Second        // how long polls wait at most
	pollEvery  = 10 * time.Millisecond  // how often polls try
	// slack is how much earlier than due a backend may make a job
	// claimable again, to allow for clock resolution.
	slack = 50 * time.Millisecond
	// clockSkew bounds how far a backend's clock (CreatedAt) may be from
	// the test's clock.
	clockSkew = time.Minute
)

// groups lists the scenario groups in the order Run runs them.
var groups = []struct {
	name string
	run  func(*testing.T, func(*testing.T) Backend)
}{
	{"Contacts", TestContacts},
	{"Threads", TestThreads},
	{"Messages", TestMessages},
	{"Markers", TestMarkers},
	{"OptOuts", TestOptOuts},
	{"Seen", TestSeen},
	{"QueueBasics", TestQueueBasics},
	{"Dedupe", TestDedupe},
	{"QueueLeases", TestQueueLeases},
	{"QueueOrdering", TestQueueOrdering},
	{"QueueConcurrentClaims", TestQueueConcurrentClaims},
	{"QueueStress", TestQueueStress},
	{"DeadLetters", TestDeadLetters},
	{"ArgumentValidation", TestArgumentValidation},
	{"Context", TestContext},
	{"KindStats", TestKindStats},
}

// Run runs every scenario group of the suite against the backends that
// newStore makes, each group as a parallel subtest of t. newStore is called
// once per subtest and must return a fresh, empty, isolated backend. If that
// backend is a [Replicator], [TestQueueStress] also uses its replicas.
func Run(t *testing.T, newStore func(t *testing.T) Backend) {
	t.Helper()
	if newStore == nil {
		t.Fatal("storetest: Run needs a function that makes backends, got nil")
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t, newStore)
		})
	}
}

// env is one subtest's fresh backend.
type env struct {
	t   *testing.T
	ctx context.Context
	b   Backend
}

// open marks t parallel and makes a fresh backend for it.
func open(t *testing.T, newStore func(*testing.T) Backend) *env {
	t.Helper()
	t.Parallel()
	if newStore == nil {
		t.Fatal("storetest: no function to make backends (nil)")
	}
	b := newStore(t)
	if b == nil {
		t.Fatal("storetest: the function that makes backends returned nil")
	}
	return &env{t: t, ctx: t.Context(), b: b}
}

// enqueue enqueues a job of kind "test" and fails the test on error.
func (e *env) enqueue(key string, payload []byte) store.Job {
	e.t.Helper()
	j, err := e.b.Enqueue(e.ctx, store.NewJob{Kind: "test", Key: key, Payload: payload})
	if err != nil {
		e.t.Fatalf("Enqueue(key %q): %v", key, err)
	}
	return j
}

// claim claims a job with lease and fails the test unless it gets one.
func (e *env) claim(lease time.Duration) store.Job {
	e.t.Helper()
	j, err := e.b.Claim(e.ctx, lease)
	if err != nil {
		e.t.Fatalf("Claim(%v): %v, want a job", lease, err)
	}
	return j
}

// claimID claims a job and fails the test unless it is the job with id.
func (e *env) claimID(lease time.Duration, want store.Job) store.Job {
	e.t.Helper()
	j := e.claim(lease)
	if j.ID != want.ID {
		e.t.Fatalf("Claim returned job %s (key %q, payload %q), want job %s (key %q, payload %q)",
			j.ID, j.Key, j.Payload, want.ID, want.Key, want.Payload)
	}
	return j
}

// noJob fails the test unless Claim returns ErrNoJob.
func (e *env) noJob(why string) {
	e.t.Helper()
	j, err := e.b.Claim(e.ctx, longLease)
	switch {
	case err == nil:
		e.t.Fatalf("Claim returned job %s (key %q, payload %q, attempt %d), want ErrNoJob: %s",
			j.ID, j.Key, j.Payload, j.Attempt, why)
	case !errors.Is(err, store.ErrNoJob):
		e.t.Fatalf("Claim: %v, want ErrNoJob: %s", err, why)
	}
}

// claimWithin polls Claim until it returns a job, failing the test if none
// comes within waitFor.
func (e *env) claimWithin(lease time.Duration) store.Job {
	e.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		j, err := e.b.Claim(e.ctx, lease)
		if err == nil {
			return j
		}
		if !errors.Is(err, store.ErrNoJob) {
			e.t.Fatalf("Claim: %v", err)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no job became claimable within %v", waitFor)
		}
		time.Sleep(pollEvery)
	}
}

// complete completes j and fails the test on error.
func (e *env) complete(j store.Job) {
	e.t.Helper()
	if err := e.b.Complete(e.ctx, j); err != nil {
		e.t.Fatalf("Complete(job %s): %v", j.ID, err)
	}
}

// deadLetter dead-letters j and fails the test on error.
func (e *env) deadLetter(j store.Job, reason string) {
	e.t.Helper()
	if err := e.b.DeadLetter(e.ctx, j, reason); err != nil {
		e.t.Fatalf("DeadLetter(job %s): %v", j.ID, err)
	}
}

// stats fails the test unless Stats returns want.
func (e *env) stats(want store.Stats) {
	e.t.Helper()
	got, err := e.b.Stats(e.ctx)
	if err != nil {
		e.t.Fatalf("Stats: %v", err)
	}
	if got != want {
		e.t.Fatalf("Stats = %+v, want %+v", got, want)
	}
}

// deadLetters lists up to limit dead letters and fails the test on error.
func (e *env) deadLetters(limit int) []store.Job {
	e.t.Helper()
	got, err := e.b.DeadLetters(e.ctx, limit)
	if err != nil {
		e.t.Fatalf("DeadLetters(%d): %v", limit, err)
	}
	return got
}

// wantErr fails the test unless err matches target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// noErr fails the test if err is not nil.
func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// checkJob compares the fields of got that a holder can rely on with want.
func checkJob(t *testing.T, what string, got store.Job, want store.Job) {
	t.Helper()
	var diffs []string
	if got.ID != want.ID {
		diffs = append(diffs, fmt.Sprintf("ID %q, want %q", got.ID, want.ID))
	}
	if got.Kind != want.Kind {
		diffs = append(diffs, fmt.Sprintf("Kind %q, want %q", got.Kind, want.Kind))
	}
	if got.Key != want.Key {
		diffs = append(diffs, fmt.Sprintf("Key %q, want %q", got.Key, want.Key))
	}
	if string(got.Payload) != string(want.Payload) {
		diffs = append(diffs, fmt.Sprintf("Payload %q, want %q", got.Payload, want.Payload))
	}
	if got.State != want.State {
		diffs = append(diffs, fmt.Sprintf("State %q, want %q", got.State, want.State))
	}
	if got.Attempt != want.Attempt {
		diffs = append(diffs, fmt.Sprintf("Attempt %d, want %d", got.Attempt, want.Attempt))
	}
	if got.LastError != want.LastError {
		diffs = append(diffs, fmt.Sprintf("LastError %q, want %q", got.LastError, want.LastError))
	}
	if want.State == store.JobLeased && got.Lease == "" {
		diffs = append(diffs, "Lease is empty on a leased job")
	}
	if want.State != store.JobLeased && got.Lease != "" {
		diffs = append(diffs, fmt.Sprintf("Lease %q on a job that is %s", got.Lease, want.State))
	}
	if !want.CreatedAt.IsZero() {
		if d := got.CreatedAt.Sub(want.CreatedAt).Abs(); d > time.Millisecond {
			diffs = append(diffs, fmt.Sprintf("CreatedAt %v, want %v", got.CreatedAt, want.CreatedAt))
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("%s: job differs: %v", what, diffs)
	}
}

// leased returns j as a holder should see it after claim number attempt.
func leased(j store.Job, attempt int, lastError string) store.Job {
	j.State = store.JobLeased
	j.Attempt = attempt
	j.LastError = lastError
	return j
}
