package jobs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/internal/jobs"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
)

// TestWokenOnEnqueue sets a poll interval no test would wait for: jobs
// enqueued while the workers are idle must still run at once, because the
// queue wakes them, and a burst of jobs of different keys must wake as many
// workers as it needs rather than one.
func TestWokenOnEnqueue(t *testing.T) {
	q := memstore.New()
	const jobsN = 4
	var (
		mu      sync.Mutex
		started = make(chan time.Time, jobsN)
		hold    = make(chan struct{})
		running int
		most    int
	)
	r := newRunner(t, q, map[string]jobs.Handler{
		"k": func(ctx context.Context, _ store.Job) error {
			// Count the job as running before saying it started: once all
			// have said so, hold is released, and a job that counted
			// itself later could find another already finished.
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			started <- time.Now()
			<-hold
			mu.Lock()
			running--
			mu.Unlock()
			return nil
		},
	}, func(c *jobs.Config) {
		c.Workers = jobsN
		c.PollInterval = time.Hour
		c.Waker = q
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// Let every worker find the queue empty and go to sleep.
	time.Sleep(200 * time.Millisecond)
	begin := time.Now()
	for i := range jobsN {
		if _, err := q.Enqueue(ctx, store.NewJob{Kind: "k", Key: fmt.Sprint("key", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range jobsN {
		select {
		case at := <-started:
			if i == 0 {
				t.Logf("first job started %v after its enqueue", at.Sub(begin))
			}
		case <-time.After(10 * time.Second):
			close(hold)
			t.Fatalf("%d of %d jobs started within 10s; the workers were not woken (poll interval 1h)", i, jobsN)
		}
	}
	close(hold)
	mu.Lock()
	defer mu.Unlock()
	if most != jobsN {
		t.Errorf("at most %d jobs ran at once, want %d: one wake-up must wake as many workers as there are jobs", most, jobsN)
	}
}
