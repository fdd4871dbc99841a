package redisstore

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestStatsLeavesLapsedLease checks that Stats only reads: a job whose lease
// ran out counts as leased, and its holder can still complete it.
func TestStatsLeavesLapsedLease(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := t.Context()
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "sms", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	j, err := s.Claim(ctx, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	for range 2 {
		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st != (store.Stats{Leased: 1}) {
			t.Fatalf("Stats with a lapsed lease = %+v, want it counted as leased", st)
		}
	}
	if err := s.Complete(ctx, j); err != nil {
		t.Fatalf("Complete by a lapsed holder after Stats: %v, want success (nobody claimed the job)", err)
	}
}

// TestClaimTakesBackOnlyItsJob lets two leases lapse and checks that a
// Claim takes back only the job it hands out (the one that became ready
// first), while the other lapsed holder can still finish its job.
func TestClaimTakesBackOnlyItsJob(t *testing.T) {
	t.Parallel()
	s0, c := newTestStore(t)
	var logs syncBuffer
	s, err := New(c, WithPrefix(strings.Trim(s0.Prefix(), "{}:")), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var jobs []store.Job
	for _, key := range []string{"a", "b"} {
		j, err := s.Enqueue(ctx, store.NewJob{Kind: "sms", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	a, err := s.Claim(ctx, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Claim(ctx, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != jobs[0].ID || b.ID != jobs[1].ID {
		t.Fatalf("claimed %s then %s, want %s then %s", a.ID, b.ID, jobs[0].ID, jobs[1].ID)
	}
	time.Sleep(60 * time.Millisecond)
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "sms", Key: "c"}); err != nil {
		t.Fatal(err)
	}

	again, err := s.Claim(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != a.ID || again.Attempt != 2 || again.Lease == a.Lease {
		t.Fatalf("Claim after the leases lapsed = %s attempt %d, want %s attempt 2 with a new lease", again.ID, again.Attempt, a.ID)
	}
	if got := logs.String(); !strings.Contains(got, "lease ran out") || !strings.Contains(got, a.ID) {
		t.Errorf("log = %q, want a warning naming job %s", got, a.ID)
	}
	if err := s.Complete(ctx, a); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("Complete by a's lapsed holder: %v, want ErrLeaseLost", err)
	}
	if err := s.Complete(ctx, b); err != nil {
		t.Errorf("Complete by b's lapsed holder, whose job nobody claimed: %v", err)
	}
	if st, err := s.Stats(ctx); err != nil || st != (store.Stats{Ready: 1, Leased: 1}) {
		t.Errorf("Stats = %+v, %v; want 1 ready, 1 leased", st, err)
	}
}

// TestClaimSkipsVanishedJobs deletes job hashes, as an evicting Redis
// would, and checks that Claim drops their ids instead of handing out or
// recreating a partial job.
func TestClaimSkipsVanishedJobs(t *testing.T) {
	t.Parallel()
	s, c := newTestStore(t)
	ctx := t.Context()
	var jobs []store.Job
	for _, key := range []string{"k", "k", "lapsed", "other"} {
		j, err := s.Enqueue(ctx, store.NewJob{Kind: "sms", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	gone, next := jobs[0], jobs[1]

	// A leased job whose hash vanishes before its lease runs out.
	if err := c.Del(ctx, s.key("job", gone.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	j, err := s.Claim(ctx, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != next.ID {
		t.Fatalf("Claim = %s, want %s, the job behind the vanished head", j.ID, next.ID)
	}
	lapsed, err := s.Claim(ctx, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Del(ctx, s.key("job", lapsed.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, j); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)

	last, err := s.Claim(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if last.ID != jobs[3].ID {
		t.Fatalf("Claim = %s, want %s", last.ID, jobs[3].ID)
	}
	if _, err := s.Claim(ctx, time.Minute); !errors.Is(err, store.ErrNoJob) {
		t.Fatalf("Claim with only vanished jobs left: %v, want ErrNoJob", err)
	}
	for _, id := range []string{gone.ID, lapsed.ID} {
		if n, err := c.Exists(ctx, s.key("job", id)).Result(); err != nil || n != 0 {
			t.Errorf("job hash %s exists = %d, %v; want it left deleted", id, n, err)
		}
	}
	if st, err := s.Stats(ctx); err != nil || st != (store.Stats{Leased: 1}) {
		t.Errorf("Stats = %+v, %v; want only the job just claimed", st, err)
	}
}

// TestClaimFreesKeyOfVanishedLeasedHead deletes the hash of a key's leased
// head, as an evicting Redis would, and checks that once the lease runs out
// Claim takes the lost job off the key's list and the key's next job runs:
// the key must not wait for the lost job forever.
func TestClaimFreesKeyOfVanishedLeasedHead(t *testing.T) {
	t.Parallel()
	s, c := newTestStore(t)
	ctx := t.Context()
	var jobs []store.Job
	for range 3 {
		j, err := s.Enqueue(ctx, store.NewJob{Kind: "sms", Key: "k"})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	head, err := s.Claim(ctx, 20*time.Millisecond)
	if err != nil || head.ID != jobs[0].ID {
		t.Fatalf("Claim = %+v, %v; want job %s", head, err, jobs[0].ID)
	}
	if err := c.Del(ctx, s.key("job", head.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond) // the lease runs out

	var next store.Job
	deadline := time.Now().Add(5 * time.Second)
	for {
		next, err = s.Claim(ctx, time.Minute)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrNoJob) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the key's next job never became claimable: its vanished head wedges it")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if next.ID != jobs[1].ID {
		t.Fatalf("Claim = %s, want %s, the job behind the vanished head", next.ID, jobs[1].ID)
	}
	if ids, err := c.LRange(ctx, s.key("q", "k"), 0, -1).Result(); err != nil || len(ids) != 2 || ids[0] != jobs[1].ID {
		t.Errorf("the key's list = %v, %v; want the two jobs left, %s first", ids, err, jobs[1].ID)
	}
	if err := s.Complete(ctx, next); err != nil {
		t.Fatal(err)
	}
	last, err := s.Claim(ctx, time.Minute)
	if err != nil || last.ID != jobs[2].ID {
		t.Fatalf("Claim = %+v, %v; want job %s", last, err, jobs[2].ID)
	}
	if err := s.Complete(ctx, last); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Stats(ctx); err != nil || st != (store.Stats{}) {
		t.Errorf("Stats = %+v, %v; want an empty queue", st, err)
	}
	if n, err := c.HLen(ctx, s.key("leasekeys")).Result(); err != nil || n != 0 {
		t.Errorf("%d lease key entries left, %v; want none", n, err)
	}
}

// TestHugeDurations passes the largest Duration as TTL, lease and delay:
// each must mean "practically forever", not overflow into something short.
func TestHugeDurations(t *testing.T) {
	t.Parallel()
	const forever = time.Duration(math.MaxInt64)
	const century = 100 * 365 * 24 * time.Hour
	s0, c := newTestStore(t)
	s, err := New(c, WithPrefix(strings.Trim(s0.Prefix(), "{}:")), WithRecordTTL(forever))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	pttl := func(key string) {
		t.Helper()
		d, err := c.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if d < century {
			t.Errorf("PTTL(%s) = %v, want over a century", key, d)
		}
	}

	if ok, err := s.MarkSeen(ctx, "forever", forever); err != nil || !ok {
		t.Fatalf("MarkSeen = %v, %v", ok, err)
	}
	pttl(s.key("seen", "forever"))
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "sms", Key: "k", DedupeKey: "d", DedupeTTL: forever}); err != nil {
		t.Fatal(err)
	}
	pttl(s.key("seen", "d"))
	if err := s.PutMessage(ctx, store.Message{SID: "SM1", ConversationID: "c"}); err != nil {
		t.Fatal(err)
	}
	pttl(s.key("msg", "SM1"))
	if err := s.Mark(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	pttl(s.key("part", "p1"))

	j, err := s.Claim(ctx, forever)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Extend(ctx, j, forever); err != nil {
		t.Fatal(err)
	}
	if err := s.Retry(ctx, j, forever, "later"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, time.Minute); !errors.Is(err, store.ErrNoJob) {
		t.Fatalf("Claim of a job retried with the largest delay: %v, want ErrNoJob", err)
	}
}

func TestCeilMillis(t *testing.T) {
	const largest = time.Duration(math.MaxInt64) / time.Millisecond * time.Millisecond
	tests := []struct {
		in, want time.Duration
	}{
		{time.Nanosecond, time.Millisecond},
		{time.Millisecond, time.Millisecond},
		{time.Millisecond + 1, 2 * time.Millisecond},
		{1500 * time.Microsecond, 2 * time.Millisecond},
		{time.Hour, time.Hour},
		{largest - 1, largest},
		{largest, largest},
		{time.Duration(math.MaxInt64), largest},
	}
	for _, tt := range tests {
		if got := ceilMillis(tt.in); got != tt.want {
			t.Errorf("ceilMillis(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
