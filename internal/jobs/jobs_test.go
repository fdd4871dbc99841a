package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/internal/jobs"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
)

func newRunner(t *testing.T, q store.Queue, handlers map[string]jobs.Handler, configure func(*jobs.Config)) *jobs.Runner {
	t.Helper()
	cfg := jobs.Config{
		Queue:        q,
		Handlers:     handlers,
		Workers:      1,
		Lease:        time.Second,
		MaxAttempts:  3,
		RetryBase:    time.Millisecond,
		RetryMax:     5 * time.Millisecond,
		PollInterval: 5 * time.Millisecond,
		DrainTimeout: time.Second,
	}
	if configure != nil {
		configure(&cfg)
	}
	r, err := jobs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func enqueue(t *testing.T, q store.Queue, kind string) store.Job {
	t.Helper()
	j, err := q.Enqueue(context.Background(), store.NewJob{Kind: kind, Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// hung is a queue whose Extend never answers, whatever its context says,
// until release is closed: a black-holed connection.
type hung struct {
	*memstore.Store
	release chan struct{}
}

func (h hung) Extend(context.Context, store.Job, time.Duration) error {
	<-h.release
	return errors.New("i/o timeout")
}

// When the store never answers an extension, the job is cancelled with
// ErrLeaseLost before its lease could lapse, so before any other worker
// can claim it.
func TestHungExtensionCancelsTheJobBeforeTheLeaseLapses(t *testing.T) {
	q := hung{Store: memstore.New(), release: make(chan struct{})}
	defer close(q.release)
	const lease = 300 * time.Millisecond
	type stop struct {
		at    time.Time
		cause error
	}
	stopped := make(chan stop, 1)
	r := newRunner(t, q, map[string]jobs.Handler{"k": func(ctx context.Context, _ store.Job) error {
		<-ctx.Done()
		stopped <- stop{time.Now(), context.Cause(ctx)}
		return ctx.Err()
	}}, func(c *jobs.Config) { c.Lease = lease })
	enqueue(t, q, "k")
	claimedAt := time.Now()
	done := make(chan struct{})
	go func() { defer close(done); _, _ = r.RunOnce(context.Background()) }()
	select {
	case s := <-stopped:
		if !errors.Is(s.cause, jobs.ErrLeaseLost) {
			t.Errorf("job stopped with cause %v, want ErrLeaseLost", s.cause)
		}
		if s.at.After(claimedAt.Add(lease)) {
			t.Errorf("job stopped %v after its claim, past its %v lease", s.at.Sub(claimedAt), lease)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the job was never stopped: the heartbeat waits on a store that never answers")
	}
	<-done
	// The job was left to its lease: another worker gets it once it lapses.
	time.Sleep(lease)
	j, err := q.Claim(context.Background(), time.Second)
	if err != nil || j.Attempt != 2 {
		t.Fatalf("Claim after the lease = %+v, %v; want the job at attempt 2", j, err)
	}
}

// Extensions keep a job alive past its first lease: no other worker gets
// it meanwhile, and it completes.
func TestHeartbeatKeepsALongJob(t *testing.T) {
	q := memstore.New()
	const lease = 150 * time.Millisecond
	var got string
	r := newRunner(t, q, map[string]jobs.Handler{"k": func(ctx context.Context, _ store.Job) error {
		select {
		case <-time.After(3 * lease):
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}}, func(c *jobs.Config) {
		c.Lease = lease
		c.OnOutcome = func(_ context.Context, _, o string, _ time.Duration) { got = o }
	})
	other := newRunner(t, q, map[string]jobs.Handler{"k": func(context.Context, store.Job) error { return nil }},
		func(c *jobs.Config) { c.Lease = lease })
	enqueue(t, q, "k")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _, _ = r.RunOnce(context.Background()) }()
	time.Sleep(2 * lease)
	if ran, err := other.RunOnce(context.Background()); ran || err != nil {
		t.Errorf("a second worker ran the job while the first held it: %v %v", ran, err)
	}
	wg.Wait()
	if got != jobs.OutcomeCompleted {
		t.Fatalf("outcome = %q, want completed", got)
	}
}

// Outcomes by what the handler returns.
func TestOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler jobs.Handler
		kind    string
		want    string
		dead    int
	}{
		{"nil completes", func(context.Context, store.Job) error { return nil }, "k", jobs.OutcomeCompleted, 0},
		{"error retries", func(context.Context, store.Job) error { return errors.New("boom") }, "k", jobs.OutcomeRetried, 0},
		{"permanent dead-letters", func(context.Context, store.Job) error { return jobs.Permanent(errors.New("bad")) }, "k", jobs.OutcomeDeadLettered, 1},
		{"defer defers", func(context.Context, store.Job) error { return jobs.Defer(errors.New("later"), time.Hour) }, "k", jobs.OutcomeDeferred, 0},
		{"panic dead-letters", func(context.Context, store.Job) error { panic("oops") }, "k", jobs.OutcomeDeadLettered, 1},
		{"unknown kind dead-letters", func(context.Context, store.Job) error { return nil }, "other", jobs.OutcomeDeadLettered, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := memstore.New()
			var got string
			var dead atomic.Int32
			r := newRunner(t, q, map[string]jobs.Handler{"k": tc.handler}, func(c *jobs.Config) {
				c.OnOutcome = func(_ context.Context, _, o string, _ time.Duration) { got = o }
				c.OnDeadLetter = func(context.Context, store.Job, error) { dead.Add(1) }
			})
			enqueue(t, q, tc.kind)
			if ran, err := r.RunOnce(context.Background()); !ran || err != nil {
				t.Fatalf("RunOnce = %v, %v", ran, err)
			}
			if got != tc.want || int(dead.Load()) != tc.dead {
				t.Fatalf("outcome %q with %d dead-letter calls, want %q and %d", got, dead.Load(), tc.want, tc.dead)
			}
		})
	}
}

// A job that keeps failing is dead-lettered on its last attempt; a deferred
// one never is.
func TestAttemptsRunOut(t *testing.T) {
	q := memstore.New()
	fails := newRunner(t, q, map[string]jobs.Handler{"k": func(context.Context, store.Job) error { return errors.New("boom") }}, nil)
	enqueue(t, q, "k")
	for i := 0; i < 10; i++ {
		_, _ = fails.RunOnce(context.Background())
		time.Sleep(10 * time.Millisecond)
	}
	dl, err := q.DeadLetters(context.Background(), 10)
	if err != nil || len(dl) != 1 || dl[0].Attempt != 3 || !strings.Contains(dl[0].LastError, "boom") {
		t.Fatalf("dead letters = %+v, %v; want one after 3 attempts", dl, err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	_, err := jobs.New(jobs.Config{})
	if err == nil {
		t.Fatal("New accepted an empty config")
	}
	for _, want := range []string{"Queue", "Handlers", "Workers", "Lease", "MaxAttempts", "RetryBase", "PollInterval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
