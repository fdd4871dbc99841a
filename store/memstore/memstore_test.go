package memstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.Backend { return New() })
}

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// checkInvariants verifies the queue's internal structure: every head is in
// exactly one heap, nothing else is in a heap, heap slots are right, and the
// counters match the jobs.
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	q := &s.q
	var want store.Stats
	heads := map[*job]bool{}
	total := 0
	for key, jobs := range q.keys {
		if len(jobs) == 0 {
			t.Fatalf("key %q has an empty job list", key)
		}
		heads[jobs[0]] = true
		for i, j := range jobs {
			total++
			if q.jobs[j.ID] != j {
				t.Fatalf("job %s of key %q missing from the job index", j.ID, key)
			}
			if i > 0 && (j.in != nil || j.State != store.JobReady) {
				t.Fatalf("non-head job %s of key %q is %s and in a heap: %v", j.ID, key, j.State, j.in != nil)
			}
			if i > 0 && j.seq <= jobs[i-1].seq {
				t.Fatalf("jobs of key %q out of order", key)
			}
			switch j.State {
			case store.JobReady:
				want.Ready++
			case store.JobLeased:
				want.Leased++
			default:
				t.Fatalf("job %s in the queue is %s", j.ID, j.State)
			}
		}
	}
	if total != len(q.jobs) {
		t.Fatalf("%d jobs in key lists, %d in the index", total, len(q.jobs))
	}
	for _, h := range []*jobHeap{&q.pending, &q.runnable} {
		for i, j := range h.items {
			if j.in != h || j.slot != i {
				t.Fatalf("job %s has a stale heap position", j.ID)
			}
			if !heads[j] {
				t.Fatalf("job %s is in a heap but is not the head of its key", j.ID)
			}
			delete(heads, j)
		}
	}
	if len(heads) != 0 {
		t.Fatalf("%d heads are in no heap", len(heads))
	}
	want.Dead = len(q.dead)
	if len(q.deadList) != len(q.dead) {
		t.Fatalf("%d dead letters listed, %d indexed", len(q.deadList), len(q.dead))
	}
	if q.stats != want {
		t.Fatalf("stats %+v, counted %+v", q.stats, want)
	}
}

func TestLeaseExpiryWithFakeClock(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := New(WithClock(clock.Now))
	ctx := t.Context()
	a, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "x", Payload: []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	if !a.CreatedAt.Equal(clock.Now()) {
		t.Fatalf("CreatedAt = %v, want the fake clock's %v", a.CreatedAt, clock.Now())
	}
	first, err := s.Claim(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute - time.Nanosecond)
	if _, err := s.Claim(ctx, time.Minute); !errors.Is(err, store.ErrNoJob) {
		t.Fatalf("Claim a nanosecond before the lease runs out: %v, want ErrNoJob", err)
	}
	checkInvariants(t, s)
	clock.Advance(time.Nanosecond)
	second, err := s.Claim(ctx, time.Minute)
	if err != nil {
		t.Fatalf("Claim when the lease ran out: %v", err)
	}
	if second.ID != first.ID || second.Attempt != 2 || second.Lease == first.Lease {
		t.Fatalf("second claim = %+v, want job %s at attempt 2 with a new lease", second, first.ID)
	}
	if err := s.Complete(ctx, first); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("Complete by the lapsed holder: %v, want ErrLeaseLost", err)
	}
	checkInvariants(t, s)
}

func TestLapsedHolderMayFinishUntilReclaimed(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := New(WithClock(clock.Now))
	ctx := t.Context()
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "x"}); err != nil {
		t.Fatal(err)
	}
	j, err := s.Claim(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if st, _ := s.Stats(ctx); st != (store.Stats{Leased: 1}) {
		t.Fatalf("Stats with a lapsed lease = %+v, want it counted as leased", st)
	}
	if err := s.Complete(ctx, j); err != nil {
		t.Fatalf("Complete by a lapsed holder whose job nobody reclaimed: %v", err)
	}
	checkInvariants(t, s)
}

func TestRetryDelayWithFakeClock(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := New(WithClock(clock.Now))
	ctx := t.Context()
	for _, key := range []string{"a", "a", "b"} {
		if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: key, Payload: []byte(key)}); err != nil {
			t.Fatal(err)
		}
	}
	j, err := s.Claim(ctx, time.Minute)
	if err != nil || j.Key != "a" {
		t.Fatalf("Claim = %+v, %v; want the first job of a", j, err)
	}
	if err := s.Retry(ctx, j, 10*time.Second, "later"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second)
	b, err := s.Claim(ctx, time.Minute)
	if err != nil || b.Key != "b" {
		t.Fatalf("Claim = %+v, %v; want the job of b", b, err)
	}
	if _, err := s.Claim(ctx, time.Minute); !errors.Is(err, store.ErrNoJob) {
		t.Fatalf("Claim before the retry is due: %v, want ErrNoJob", err)
	}
	clock.Advance(5 * time.Second)
	again, err := s.Claim(ctx, time.Minute)
	if err != nil || again.ID != j.ID || again.Attempt != 2 || again.LastError != "later" {
		t.Fatalf("Claim when the retry is due = %+v, %v; want job %s at attempt 2", again, err, j.ID)
	}
	checkInvariants(t, s)
}

func TestSeenKeysAreSwept(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := New(WithClock(clock.Now))
	ctx := t.Context()
	for i := range 1000 {
		if _, err := s.MarkSeen(ctx, "k"+strconv.Itoa(i), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "k", DedupeKey: "dedupe", DedupeTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	if isNew, err := s.MarkSeen(ctx, "fresh", time.Minute); err != nil || !isNew {
		t.Fatalf("MarkSeen = %v, %v; want true", isNew, err)
	}
	s.mu.Lock()
	seen, heapLen := len(s.seen), len(s.expiries)
	s.mu.Unlock()
	if seen != 2 || heapLen != 2 {
		t.Fatalf("after expiry, %d seen keys and %d heap entries remain, want 2 (dedupe and fresh)", seen, heapLen)
	}
	if isNew, _ := s.MarkSeen(ctx, "dedupe", time.Minute); isNew {
		t.Fatal("dedupe key with an hour's TTL was swept after two minutes")
	}
}

func TestRandomisedInvariants(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := New(WithClock(clock.Now))
	ctx := t.Context()
	var held []store.Job
	var dead []string
	// A deterministic mix of operations; invariants are checked after each.
	for step := range 3000 {
		switch op := (step * 7919) % 11; {
		case op < 4:
			key := "k" + strconv.Itoa((step*31)%7)
			if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: key}); err != nil {
				t.Fatal(err)
			}
		case op < 7:
			j, err := s.Claim(ctx, time.Duration(1+step%5)*time.Second)
			if err == nil {
				held = append(held, j)
			} else if !errors.Is(err, store.ErrNoJob) {
				t.Fatal(err)
			}
		case op < 10 && len(held) > 0:
			j := held[0]
			held = held[1:]
			var err error
			switch step % 4 {
			case 0:
				err = s.Complete(ctx, j)
			case 1:
				err = s.Retry(ctx, j, time.Duration(step%3)*time.Second, "r")
			case 2:
				err = s.DeadLetter(ctx, j, "d")
				if err == nil {
					dead = append(dead, j.ID)
				}
			case 3:
				err = s.Extend(ctx, j, time.Second)
				if err == nil {
					held = append(held, j)
				}
			}
			if err != nil && !errors.Is(err, store.ErrLeaseLost) {
				t.Fatal(err)
			}
		case len(dead) > 0:
			id := dead[0]
			dead = dead[1:]
			var err error
			if step%2 == 0 {
				err = s.Replay(ctx, id)
			} else {
				err = s.DiscardDeadLetter(ctx, id)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(300 * time.Millisecond)
		checkInvariants(t, s)
	}
}

func TestWithClockNil(t *testing.T) {
	t.Parallel()
	s := New(WithClock(nil), nil)
	j, err := s.Enqueue(context.Background(), store.NewJob{Kind: "k", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(j.CreatedAt).Abs() > time.Minute {
		t.Fatalf("CreatedAt = %v with WithClock(nil), want about now", j.CreatedAt)
	}
}

func BenchmarkStoretest(b *testing.B) {
	storetest.Bench(b, func(*testing.B) storetest.Backend { return New() })
}

func BenchmarkEnqueue(b *testing.B) {
	s, ctx := New(), b.Context()
	payload := make([]byte, 256)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "key-" + strconv.Itoa(i%1000), Payload: payload}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkClaimComplete claims and completes jobs from queues holding
// different numbers of keys, each with waiting jobs; the cost per claim
// should grow with log(keys), not with the number of jobs.
func BenchmarkClaimComplete(b *testing.B) {
	for _, keys := range []int{10, 1000, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			s, ctx := New(), b.Context()
			for i := range 2 * keys {
				if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "key-" + strconv.Itoa(i%keys)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				j, err := s.Claim(ctx, time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Complete(ctx, j); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: j.Key}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
