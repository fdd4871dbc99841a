package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
)

// These tests check the suite itself: that it passes a correct backend,
// with replicas, and that it fails backends that break a rule it checks.

// replicated is a correct backend whose Replica is another value on the
// same memstore, the way a second process shares a database.
type replicated struct{ *memstore.Store }

func (r replicated) Replica(*testing.T) Backend { return replicated{r.Store} }

func newReplicated(*testing.T) Backend { return replicated{memstore.New()} }

// tightStress makes more lapses, retries and deaths than the default, and
// gives up sooner, so that a broken backend shows quickly.
var tightStress = stressConfig{
	keys: 4, jobs: 150, workers: 6,
	abandonPct: 20, abandonLease: 20 * time.Millisecond, keepLease: 5 * time.Minute,
	extendPct: 10, retryPct: 25, deadPct: 25, retryDelay: 2 * time.Millisecond,
	replays: 30, stall: 500 * time.Millisecond, deadline: 20 * time.Second,
}

func TestQueueStressWithReplicas(t *testing.T) {
	TestQueueStress(t, newReplicated)
}

func TestStressTightPasses(t *testing.T) {
	t.Parallel()
	m := memstore.New()
	backends := []Backend{replicated{m}, replicated{m}, replicated{m}}
	if err := runStress(t.Context(), backends, tightStress, t.Logf); err != nil {
		t.Fatal(err)
	}
}

func TestStressCatches(t *testing.T) {
	cases := []struct {
		name string
		wrap func(Backend) Backend
		want []string // the error names one of these
	}{
		{"KeysNotOrdered", func(b Backend) Backend { return &unordered{Backend: b} }, []string{"SINGLE HOLDER", "ORDER"}},
		{"RetryLosesJob", func(b Backend) Backend { return losesRetries{b} }, []string{"ORDER", "LOST JOBS"}},
		{"RetryDelayInSeconds", func(b Backend) Backend { return delaysInSeconds{b} }, []string{"LOST JOBS"}},
		{"ReplayMakesNewJob", func(b Backend) Backend { return replaysCopy{b} }, []string{"Replay must keep the job's ID"}},
		{"LapsedHolderAccepted", func(b Backend) Backend { return acceptsStale{b} }, []string{"want ErrLeaseLost"}},
		{"DuplicateLeaseTokens", func(b Backend) Backend { return &reusesLeases{Backend: b} }, []string{"handed out twice"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := memstore.New()
			b := c.wrap(m)
			err := runStress(t.Context(), []Backend{b, b}, tightStress, t.Logf)
			if err == nil {
				t.Fatal("the stress scenario passed a broken backend")
			}
			for _, w := range c.want {
				if strings.Contains(err.Error(), w) {
					t.Logf("caught: %v", err)
					return
				}
			}
			t.Fatalf("error %q names none of %q", err, c.want)
		})
	}
}

// brokenEnv names the broken backend a child test process runs the suite
// against.
const brokenEnv = "SMSRELAY_STORETEST_BROKEN"

// brokenSuites are scenarios that must fail against a broken backend. Each
// runs in a child process, since a failing scenario fails its test.
var brokenSuites = map[string]struct {
	scenario func(*testing.T, func(*testing.T) Backend)
	wrap     func(Backend) Backend
	want     string
}{
	"HugeDurationsOverflow": {TestArgumentValidation, func(b Backend) Backend { return overflows{b} }, "ran out at once"},
	"ReplayMakesNewJob":     {TestDeadLetters, func(b Backend) Backend { return replaysCopy{b} }, "Replay keeps the job's ID"},
}

func TestSuiteCatches(t *testing.T) {
	if name := os.Getenv(brokenEnv); name != "" {
		c, ok := brokenSuites[name]
		if !ok {
			t.Fatalf("%s=%q names no broken backend", brokenEnv, name)
		}
		c.scenario(t, func(*testing.T) Backend { return c.wrap(memstore.New()) })
		return
	}
	for name, c := range brokenSuites {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSuiteCatches$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), brokenEnv+"="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			switch {
			case err == nil:
				t.Fatalf("the suite passed a broken backend:\n%s", out)
			case !errors.As(err, &exit):
				t.Fatalf("run the child test: %v", err)
			case !strings.Contains(string(out), c.want):
				t.Fatalf("the suite failed, but not with %q:\n%s", c.want, out)
			}
		})
	}
}

// unordered ignores ordering keys: it gives every job a key of its own.
type unordered struct {
	Backend
	n atomic.Int64
}

func realKey(k string) string { k, _, _ = strings.Cut(k, "#"); return k }

func (u *unordered) Enqueue(ctx context.Context, nj store.NewJob) (store.Job, error) {
	nj.Key = fmt.Sprintf("%s#%d", nj.Key, u.n.Add(1))
	j, err := u.Backend.Enqueue(ctx, nj)
	j.Key = realKey(j.Key)
	return j, err
}

func (u *unordered) Claim(ctx context.Context, lease time.Duration) (store.Job, error) {
	j, err := u.Backend.Claim(ctx, lease)
	j.Key = realKey(j.Key)
	return j, err
}

func (u *unordered) DeadLetters(ctx context.Context, limit int) ([]store.Job, error) {
	jobs, err := u.Backend.DeadLetters(ctx, limit)
	for i := range jobs {
		jobs[i].Key = realKey(jobs[i].Key)
	}
	return jobs, err
}

// losesRetries drops a retried job instead of putting it back.
type losesRetries struct{ Backend }

func (l losesRetries) Retry(ctx context.Context, j store.Job, _ time.Duration, _ string) error {
	return l.Complete(ctx, j)
}

// delaysInSeconds mistakes a retry delay's nanoseconds for seconds, so
// retried jobs wait for ages.
type delaysInSeconds struct{ Backend }

func (d delaysInSeconds) Retry(ctx context.Context, j store.Job, delay time.Duration, why string) error {
	return d.Backend.Retry(ctx, j, min(delay*time.Second, time.Hour), why)
}

// replaysCopy replays a dead letter as a new job with the same contents.
type replaysCopy struct{ Backend }

func (r replaysCopy) Replay(ctx context.Context, id string) error {
	dead, err := r.DeadLetters(ctx, 1<<20)
	if err != nil {
		return err
	}
	for _, d := range dead {
		if d.ID == id {
			if err := r.DiscardDeadLetter(ctx, id); err != nil {
				return err
			}
			_, err := r.Enqueue(ctx, store.NewJob{Kind: d.Kind, Key: d.Key, Payload: d.Payload})
			return err
		}
	}
	return store.ErrNotFound
}

// acceptsStale lets a holder whose lease was taken over act as if it still
// held the job.
type acceptsStale struct{ Backend }

func stale(err error) error {
	if errors.Is(err, store.ErrLeaseLost) {
		return nil
	}
	return err
}

func (a acceptsStale) Complete(ctx context.Context, j store.Job) error {
	return stale(a.Backend.Complete(ctx, j))
}

func (a acceptsStale) Retry(ctx context.Context, j store.Job, d time.Duration, r string) error {
	return stale(a.Backend.Retry(ctx, j, d, r))
}

func (a acceptsStale) DeadLetter(ctx context.Context, j store.Job, r string) error {
	return stale(a.Backend.DeadLetter(ctx, j, r))
}

func (a acceptsStale) Extend(ctx context.Context, j store.Job, d time.Duration) error {
	return stale(a.Backend.Extend(ctx, j, d))
}

// reusesLeases hands out lease tokens from a small set, as a backend with
// a per-process counter would across replicas.
type reusesLeases struct {
	Backend
	n    atomic.Int64
	real [4]atomic.Pointer[string]
}

func (r *reusesLeases) Claim(ctx context.Context, lease time.Duration) (store.Job, error) {
	j, err := r.Backend.Claim(ctx, lease)
	if err != nil {
		return j, err
	}
	slot := r.n.Add(1) % 4
	real := j.Lease
	r.real[slot].Store(&real)
	j.Lease = fmt.Sprintf("lease-%d", slot)
	return j, nil
}

func (r *reusesLeases) token(j store.Job) store.Job {
	var slot int
	if _, err := fmt.Sscanf(j.Lease, "lease-%d", &slot); err == nil && slot >= 0 && slot < 4 {
		if p := r.real[slot].Load(); p != nil {
			j.Lease = *p
		}
	}
	return j
}

func (r *reusesLeases) Complete(ctx context.Context, j store.Job) error {
	return r.Backend.Complete(ctx, r.token(j))
}

func (r *reusesLeases) Retry(ctx context.Context, j store.Job, d time.Duration, why string) error {
	return r.Backend.Retry(ctx, r.token(j), d, why)
}

func (r *reusesLeases) DeadLetter(ctx context.Context, j store.Job, why string) error {
	return r.Backend.DeadLetter(ctx, r.token(j), why)
}

func (r *reusesLeases) Extend(ctx context.Context, j store.Job, d time.Duration) error {
	return r.Backend.Extend(ctx, r.token(j), d)
}

// overflows turns huge durations into tiny ones, as adding them to a clock
// without care would (wrapping around, then clamped by the backend).
type overflows struct{ Backend }

func wrap(d time.Duration) time.Duration {
	if d > 1<<61 {
		return time.Nanosecond
	}
	return d
}

func (o overflows) MarkSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return o.Backend.MarkSeen(ctx, key, wrap(ttl))
}

func (o overflows) Enqueue(ctx context.Context, nj store.NewJob) (store.Job, error) {
	nj.DedupeTTL = wrap(nj.DedupeTTL)
	return o.Backend.Enqueue(ctx, nj)
}

func (o overflows) Claim(ctx context.Context, lease time.Duration) (store.Job, error) {
	return o.Backend.Claim(ctx, wrap(lease))
}

func (o overflows) Extend(ctx context.Context, j store.Job, lease time.Duration) error {
	return o.Backend.Extend(ctx, j, wrap(lease))
}

func (o overflows) Retry(ctx context.Context, j store.Job, d time.Duration, why string) error {
	return o.Backend.Retry(ctx, j, wrap(d), why)
}
