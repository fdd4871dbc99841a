package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
)

// TestQueueBasics checks Enqueue, Claim, Complete, Retry and Stats on one
// job at a time, and that payloads come back byte for byte.
func TestQueueBasics(t *testing.T, newStore func(t *testing.T) Backend) {
	t.Run("Empty", func(t *testing.T) {
		e := open(t, newStore)
		e.noJob("the queue is empty")
		if got := e.deadLetters(10); len(got) != 0 {
			t.Fatalf("DeadLetters of an empty queue = %d jobs, want none", len(got))
		}
		e.stats(store.Stats{})
	})
	t.Run("Enqueue", func(t *testing.T) {
		e := open(t, newStore)
		before := time.Now()
		ids := map[string]bool{}
		for i, key := range []string{"k1", "k1", "k2"} {
			payload := []byte("payload " + strconv.Itoa(i))
			j, err := e.b.Enqueue(e.ctx, store.NewJob{Kind: "sms.inbound", Key: key, Payload: payload})
			noErr(t, "Enqueue", err)
			checkJob(t, "Enqueue result", j, store.Job{ID: j.ID, Kind: "sms.inbound", Key: key, Payload: payload, State: store.JobReady})
			if j.ID == "" {
				t.Fatal("Enqueue returned a job with no ID")
			}
			if ids[j.ID] {
				t.Fatalf("Enqueue returned ID %q twice", j.ID)
			}
			ids[j.ID] = true
			if j.CreatedAt.Before(before.Add(-clockSkew)) || j.CreatedAt.After(time.Now().Add(clockSkew)) {
				t.Fatalf("Enqueue returned CreatedAt %v, want about %v", j.CreatedAt, before)
			}
		}
		e.stats(store.Stats{Ready: 3})
	})
	t.Run("ClaimComplete", func(t *testing.T) {
		e := open(t, newStore)
		j := e.enqueue("k", []byte("hello"))
		got := e.claim(longLease)
		checkJob(t, "Claim", got, leased(j, 1, ""))
		e.stats(store.Stats{Leased: 1})
		e.noJob("the only job is leased")
		e.complete(got)
		e.stats(store.Stats{})
		e.noJob("the only job was completed")

		wantErr(t, "Complete of a completed job", e.b.Complete(e.ctx, got), store.ErrLeaseLost)
		wantErr(t, "Extend of a completed job", e.b.Extend(e.ctx, got, longLease), store.ErrLeaseLost)
		wantErr(t, "Retry of a completed job", e.b.Retry(e.ctx, got, 0, "again"), store.ErrLeaseLost)
		wantErr(t, "DeadLetter of a completed job", e.b.DeadLetter(e.ctx, got, "dead"), store.ErrLeaseLost)
		e.stats(store.Stats{})
		if dl := e.deadLetters(10); len(dl) != 0 {
			t.Fatalf("DeadLetters = %d jobs after a refused DeadLetter, want none", len(dl))
		}
	})
	t.Run("WrongLease", func(t *testing.T) {
		e := open(t, newStore)
		e.enqueue("k", nil)
		got := e.claim(longLease)
		forged := got
		forged.Lease = got.Lease + "-forged"
		wantErr(t, "Complete with a forged lease", e.b.Complete(e.ctx, forged), store.ErrLeaseLost)
		wantErr(t, "Extend with a forged lease", e.b.Extend(e.ctx, forged, longLease), store.ErrLeaseLost)
		wantErr(t, "Retry with a forged lease", e.b.Retry(e.ctx, forged, 0, "x"), store.ErrLeaseLost)
		wantErr(t, "DeadLetter with a forged lease", e.b.DeadLetter(e.ctx, forged, "x"), store.ErrLeaseLost)
		e.stats(store.Stats{Leased: 1})
		e.noJob("the job is still leased by its real holder")
		e.complete(got)
	})
	t.Run("RetryNow", func(t *testing.T) {
		e := open(t, newStore)
		j := e.enqueue("k", []byte("x"))
		first := e.claim(longLease)
		noErr(t, "Retry", e.b.Retry(e.ctx, first, 0, "temporary failure"))
		e.stats(store.Stats{Ready: 1})
		second := e.claimWithin(longLease)
		checkJob(t, "Claim after Retry", second, leased(j, 2, "temporary failure"))
		if second.Lease == first.Lease {
			t.Fatalf("second claim reused lease token %q", first.Lease)
		}
		wantErr(t, "Complete with the first claim's lease", e.b.Complete(e.ctx, first), store.ErrLeaseLost)
		e.complete(second)
		e.stats(store.Stats{})
	})
	t.Run("Stats", func(t *testing.T) {
		e := open(t, newStore)
		e.enqueue("a", nil)
		e.enqueue("a", nil)
		e.enqueue("b", nil)
		e.enqueue("c", nil)
		e.stats(store.Stats{Ready: 4})
		ja := e.claim(longLease)
		jb := e.claim(longLease)
		e.stats(store.Stats{Ready: 2, Leased: 2})
		noErr(t, "Retry", e.b.Retry(e.ctx, ja, time.Hour, "later"))
		e.stats(store.Stats{Ready: 3, Leased: 1})
		e.deadLetter(jb, "broken")
		e.stats(store.Stats{Ready: 3, Dead: 1})
		jc := e.claim(longLease) // "c"; "a" waits an hour, the second "a" waits for it
		e.stats(store.Stats{Ready: 2, Leased: 1, Dead: 1})
		e.complete(jc)
		e.stats(store.Stats{Ready: 2, Dead: 1})
	})
	t.Run("Payloads", func(t *testing.T) {
		e := open(t, newStore)
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		big := bytes.Repeat([]byte("0123456789abcdef\x00\xff"), 4096)
		payloads := map[string][]byte{
			"nil":          nil,
			"empty":        {},
			"zero byte":    {0},
			"every byte":   all,
			"invalid utf8": []byte("\xff\xfe\xfd caf\xe9"),
			"json":         []byte(`{"body":"héllo 👋","n":1}`),
			"trailing nul": []byte("abc\x00\x00"),
			"big":          big,
		}
		byID := map[string][]byte{}
		for name, p := range payloads {
			j, err := e.b.Enqueue(e.ctx, store.NewJob{Kind: "k", Key: name, Payload: p})
			noErr(t, "Enqueue "+name, err)
			if !bytes.Equal(j.Payload, p) {
				t.Fatalf("Enqueue(%s) returned payload of %d bytes, want %d bytes", name, len(j.Payload), len(p))
			}
			byID[j.ID] = p
		}
		for range payloads {
			j := e.claim(longLease)
			want, ok := byID[j.ID]
			if !ok {
				t.Fatalf("Claim returned unknown job %q", j.ID)
			}
			if !bytes.Equal(j.Payload, want) {
				t.Fatalf("Claim of job %q (key %q) returned payload of %d bytes, want %d bytes: %q",
					j.ID, j.Key, len(j.Payload), len(want), j.Payload)
			}
			e.deadLetter(j, "check payload of dead letters")
		}
		for _, dl := range e.deadLetters(len(payloads)) {
			if !bytes.Equal(dl.Payload, byID[dl.ID]) {
				t.Fatalf("dead letter %q (key %q) has a payload of %d bytes, want %d", dl.ID, dl.Key, len(dl.Payload), len(byID[dl.ID]))
			}
			noErr(t, "Replay", e.b.Replay(e.ctx, dl.ID))
		}
		for range payloads {
			j := e.claim(longLease)
			want := payloads[j.Key]
			if !bytes.Equal(j.Payload, want) {
				t.Fatalf("replayed job (key %q) returned payload of %d bytes, want %d bytes", j.Key, len(j.Payload), len(want))
			}
		}
	})
	t.Run("PayloadIsCopied", func(t *testing.T) {
		e := open(t, newStore)
		buf := []byte("original")
		j := e.enqueue("k", buf)
		copy(buf, "MUTATED!")
		j.Payload[0] = 'X'
		got := e.claim(longLease)
		if string(got.Payload) != "original" {
			t.Fatalf("payload changed to %q by writes to the caller's slices, want %q", got.Payload, "original")
		}
		got.Payload[0] = 'Y'
		noErr(t, "Retry", e.b.Retry(e.ctx, got, 0, ""))
		again := e.claimWithin(longLease)
		if string(again.Payload) != "original" {
			t.Fatalf("payload changed to %q by writes to a claimed job's slice, want %q", again.Payload, "original")
		}
	})
}

// TestDedupe checks Enqueue with a DedupeKey: ErrDuplicate within the TTL,
// a namespace shared with MarkSeen, and atomicity under concurrency.
func TestDedupe(t *testing.T, newStore func(t *testing.T) Backend) {
	job := func(dk string, ttl time.Duration) store.NewJob {
		return store.NewJob{Kind: "k", Key: "key", Payload: []byte(dk), DedupeKey: dk, DedupeTTL: ttl}
	}
	t.Run("Duplicate", func(t *testing.T) {
		e := open(t, newStore)
		_, err := e.b.Enqueue(e.ctx, job("d1", longTTL))
		noErr(t, "Enqueue", err)
		_, err = e.b.Enqueue(e.ctx, job("d1", longTTL))
		wantErr(t, "Enqueue with a recorded dedupe key", err, store.ErrDuplicate)
		_, err = e.b.Enqueue(e.ctx, job("d2", longTTL))
		noErr(t, "Enqueue with another dedupe key", err)
		e.stats(store.Stats{Ready: 2})
	})
	t.Run("OutlivesTheJob", func(t *testing.T) {
		e := open(t, newStore)
		_, err := e.b.Enqueue(e.ctx, job("d1", longTTL))
		noErr(t, "Enqueue", err)
		e.complete(e.claim(longLease))
		_, err = e.b.Enqueue(e.ctx, job("d1", longTTL))
		wantErr(t, "Enqueue with the dedupe key of a completed job", err, store.ErrDuplicate)
		e.stats(store.Stats{})
	})
	t.Run("SharesNamespaceWithMarkSeen", func(t *testing.T) {
		e := open(t, newStore)
		isNew, err := e.b.MarkSeen(e.ctx, "seen-first", longTTL)
		noErr(t, "MarkSeen", err)
		if !isNew {
			t.Fatal("MarkSeen of a new key = false, want true")
		}
		_, err = e.b.Enqueue(e.ctx, job("seen-first", longTTL))
		wantErr(t, "Enqueue with a key recorded by MarkSeen", err, store.ErrDuplicate)
		_, err = e.b.Enqueue(e.ctx, job("enqueued-first", longTTL))
		noErr(t, "Enqueue", err)
		isNew, err = e.b.MarkSeen(e.ctx, "enqueued-first", longTTL)
		noErr(t, "MarkSeen", err)
		if isNew {
			t.Fatal("MarkSeen of a key recorded by Enqueue = true, want false")
		}
		e.stats(store.Stats{Ready: 1})
	})
	t.Run("Expires", func(t *testing.T) {
		e := open(t, newStore)
		_, err := e.b.Enqueue(e.ctx, job("d1", shortTTL))
		noErr(t, "Enqueue", err)
		_, err = e.b.Enqueue(e.ctx, job("d1", shortTTL))
		wantErr(t, "Enqueue within the TTL", err, store.ErrDuplicate)
		time.Sleep(shortTTL + 300*time.Millisecond)
		_, err = e.b.Enqueue(e.ctx, job("d1", shortTTL))
		noErr(t, "Enqueue after the TTL ran out", err)
		e.stats(store.Stats{Ready: 2})
	})
	t.Run("Concurrent", func(t *testing.T) {
		e := open(t, newStore)
		const n = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		inserted := 0
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.b.Enqueue(e.ctx, job("race", longTTL))
				switch {
				case err == nil:
					mu.Lock()
					inserted++
					mu.Unlock()
				case !errors.Is(err, store.ErrDuplicate):
					t.Errorf("Enqueue: %v", err)
				}
			}()
		}
		wg.Wait()
		if inserted != 1 {
			t.Fatalf("%d of %d concurrent Enqueues with one dedupe key inserted a job, want exactly 1", inserted, n)
		}
		e.stats(store.Stats{Ready: 1})
	})
}

// TestQueueLeases checks that leases hold while they last, lapse when they
// run out, and that a lapsed holder can no longer act on its job.
func TestQueueLeases(t *testing.T, newStore func(t *testing.T) Backend) {
	t.Run("Expiry", func(t *testing.T) {
		e := open(t, newStore)
		j := e.enqueue("k", []byte("p"))
		first := e.claim(shortLease)
		claimed := time.Now()
		e.noJob("the lease has not run out yet")
		second := e.claimWithin(longLease)
		if waited := time.Since(claimed); waited < shortLease-slack {
			t.Fatalf("job claimable again %v after a %v lease was granted", waited, shortLease)
		}
		checkJob(t, "Claim after the lease lapsed", second, leased(j, 2, ""))
		if second.Lease == first.Lease {
			t.Fatalf("the new claim reused lease token %q", first.Lease)
		}
		wantErr(t, "Complete by the lapsed holder", e.b.Complete(e.ctx, first), store.ErrLeaseLost)
		wantErr(t, "Extend by the lapsed holder", e.b.Extend(e.ctx, first, longLease), store.ErrLeaseLost)
		wantErr(t, "Retry by the lapsed holder", e.b.Retry(e.ctx, first, 0, "x"), store.ErrLeaseLost)
		wantErr(t, "DeadLetter by the lapsed holder", e.b.DeadLetter(e.ctx, first, "x"), store.ErrLeaseLost)
		e.stats(store.Stats{Leased: 1})
		e.noJob("the new holder still has the job")
		e.complete(second)
		e.stats(store.Stats{})
	})
	t.Run("Extend", func(t *testing.T) {
		e := open(t, newStore)
		e.enqueue("k", nil)
		j := e.claim(shortLease)
		claimed := time.Now()
		time.Sleep(shortLease / 3)
		noErr(t, "Extend", e.b.Extend(e.ctx, j, 5*time.Second))
		time.Sleep(time.Until(claimed.Add(2 * shortLease)))
		e.noJob("the lease was extended")
		noErr(t, "Extend again", e.b.Extend(e.ctx, j, 5*time.Second))
		e.complete(j)
		e.stats(store.Stats{})
	})
	t.Run("LapsedJobKeepsItsTurn", func(t *testing.T) {
		e := open(t, newStore)
		a := e.enqueue("k", []byte("a"))
		e.enqueue("k", []byte("b"))
		e.claimID(shortLease, a)
		again := e.claimWithin(longLease)
		checkJob(t, "Claim after the lease lapsed", again, leased(a, 2, ""))
	})
	t.Run("RetryByNewHolder", func(t *testing.T) {
		e := open(t, newStore)
		j := e.enqueue("k", nil)
		first := e.claim(shortLease)
		second := e.claimWithin(longLease)
		noErr(t, "Retry by the new holder", e.b.Retry(e.ctx, second, 0, "second failed"))
		wantErr(t, "DeadLetter by the lapsed holder", e.b.DeadLetter(e.ctx, first, "x"), store.ErrLeaseLost)
		third := e.claimWithin(longLease)
		checkJob(t, "third claim", third, leased(j, 3, "second failed"))
	})
}

// TestQueueOrdering checks per-key ordering: one job of a key at a time, in
// enqueue order, including across retries and dead letters, and that keys
// do not block each other.
func TestQueueOrdering(t *testing.T, newStore func(t *testing.T) Backend) {
	t.Run("FIFOPerKey", func(t *testing.T) {
		e := open(t, newStore)
		var jobs []store.Job
		for i := range 5 {
			jobs = append(jobs, e.enqueue("k", []byte(strconv.Itoa(i))))
		}
		for i, want := range jobs {
			got := e.claimID(longLease, want)
			e.noJob(fmt.Sprintf("job %d of the key is leased", i))
			e.complete(got)
		}
		e.noJob("all jobs completed")
	})
	t.Run("OldestFirstAcrossKeys", func(t *testing.T) {
		e := open(t, newStore)
		a1 := e.enqueue("a", []byte("a1"))
		b1 := e.enqueue("b", []byte("b1"))
		a2 := e.enqueue("a", []byte("a2"))
		c1 := e.enqueue("c", []byte("c1"))
		ga1 := e.claimID(longLease, a1)
		e.claimID(longLease, b1)
		e.claimID(longLease, c1)
		e.noJob("a2 waits for a1")
		e.complete(ga1)
		e.claimID(longLease, a2)
	})
	t.Run("RetryDelayBlocksKey", func(t *testing.T) {
		e := open(t, newStore)
		a := e.enqueue("k", []byte("a"))
		b := e.enqueue("k", []byte("b"))
		c := e.enqueue("other", []byte("c"))
		ga := e.claimID(longLease, a)
		retried := time.Now()
		noErr(t, "Retry", e.b.Retry(e.ctx, ga, retryDelay, "try later"))
		gc := e.claimID(longLease, c)
		e.noJob("a is delayed and b waits behind it")
		e.complete(gc)
		ga2 := e.claimWithin(longLease)
		if waited := time.Since(retried); waited < retryDelay-slack {
			t.Fatalf("retried job claimable %v after a %v delay", waited, retryDelay)
		}
		checkJob(t, "Claim after the retry delay", ga2, leased(a, 2, "try later"))
		e.noJob("b waits for a")
		e.complete(ga2)
		e.claimID(longLease, b)
	})
	t.Run("RetryDelayHonoured", func(t *testing.T) {
		e := open(t, newStore)
		j := e.enqueue("k", nil)
		g := e.claim(longLease)
		retried := time.Now()
		noErr(t, "Retry", e.b.Retry(e.ctx, g, retryDelay, "later"))
		e.stats(store.Stats{Ready: 1})
		e.noJob("the retry delay has not passed")
		g2 := e.claimWithin(longLease)
		if waited := time.Since(retried); waited < retryDelay-slack {
			t.Fatalf("retried job claimable %v after a %v delay", waited, retryDelay)
		}
		checkJob(t, "Claim after the delay", g2, leased(j, 2, "later"))
	})
	t.Run("DeadLetterUnblocksKey", func(t *testing.T) {
		e := open(t, newStore)
		a := e.enqueue("k", []byte("a"))
		b := e.enqueue("k", []byte("b"))
		ga := e.claimID(longLease, a)
		e.noJob("b waits for a")
		e.deadLetter(ga, "poison")
		e.claimID(longLease, b)
	})
	t.Run("CompletedKeyCanBeReused", func(t *testing.T) {
		e := open(t, newStore)
		first := e.enqueue("k", []byte("first"))
		e.complete(e.claimID(longLease, first))
		j := e.enqueue("k", []byte("again"))
		e.claimID(longLease, j)
	})
}

// TestQueueConcurrentClaims runs many claimers against many jobs of a few
// keys and checks that every job is handed out exactly once, in order within
// its key, and never while another job of its key is held.
func TestQueueConcurrentClaims(t *testing.T, newStore func(t *testing.T) Backend) {
	t.Run("ExactlyOnceAndOrdered", func(t *testing.T) {
		e := open(t, newStore)
		const (
			jobs    = 200
			keys    = 10
			workers = 16
		)
		for i := range jobs {
			key := fmt.Sprintf("key-%d", i%keys)
			e.enqueue(key, []byte(fmt.Sprintf("%s/%d", key, i/keys)))
		}

		ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
		defer cancel()
		var (
			mu     sync.Mutex
			holder = map[string]string{} // key → ID of the job held
			next   = map[string]int{}    // key → sequence number expected next
			seen   = map[string]bool{}   // job IDs handed out
			done   int
		)
		fail := func(format string, args ...any) {
			t.Errorf(format, args...)
			cancel()
		}
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					finished := done == jobs
					mu.Unlock()
					if finished || ctx.Err() != nil {
						return
					}
					j, err := e.b.Claim(ctx, longLease)
					if errors.Is(err, store.ErrNoJob) {
						time.Sleep(time.Millisecond)
						continue
					}
					if err != nil {
						if ctx.Err() == nil {
							fail("Claim: %v", err)
						}
						return
					}
					mu.Lock()
					if seen[j.ID] {
						mu.Unlock()
						fail("job %s (%q) handed out twice", j.ID, j.Payload)
						return
					}
					seen[j.ID] = true
					if h := holder[j.Key]; h != "" {
						mu.Unlock()
						fail("job %s of key %q handed out while job %s of that key is held", j.ID, j.Key, h)
						return
					}
					holder[j.Key] = j.ID
					key, seq, _ := strings.Cut(string(j.Payload), "/")
					if key != j.Key || seq != strconv.Itoa(next[j.Key]) || j.Attempt != 1 {
						mu.Unlock()
						fail("claimed %q (key %q, attempt %d), want %s/%d at attempt 1", j.Payload, j.Key, j.Attempt, j.Key, next[j.Key])
						return
					}
					next[j.Key]++
					mu.Unlock()

					time.Sleep(100 * time.Microsecond) // hold the job a moment

					mu.Lock()
					holder[j.Key] = ""
					mu.Unlock()
					if err := e.b.Complete(ctx, j); err != nil {
						fail("Complete(%s): %v", j.ID, err)
						return
					}
					mu.Lock()
					done++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d jobs done within the deadline", done, jobs)
		}
		if len(seen) != jobs {
			t.Fatalf("%d distinct jobs handed out, want %d", len(seen), jobs)
		}
		e.stats(store.Stats{})
		e.noJob("every job completed")
	})
}

// TestDeadLetters checks DeadLetter, DeadLetters, Replay and
// DiscardDeadLetter.
func TestDeadLetters(t *testing.T, newStore func(t *testing.T) Backend) {
	t.Run("ListOldestFirst", func(t *testing.T) {
		e := open(t, newStore)
		var jobs []store.Job
		for i := range 3 {
			jobs = append(jobs, e.enqueue("k"+strconv.Itoa(i), []byte("p"+strconv.Itoa(i))))
		}
		held := map[string]store.Job{}
		for range jobs {
			j := e.claim(longLease)
			held[j.ID] = j
		}
		// Dead-letter in enqueue order, so that "oldest" means the same by
		// either clock.
		for i, j := range jobs {
			e.deadLetter(held[j.ID], "reason "+strconv.Itoa(i))
		}
		e.stats(store.Stats{Dead: 3})
		all := e.deadLetters(10)
		if len(all) != 3 {
			t.Fatalf("DeadLetters(10) = %d jobs, want 3", len(all))
		}
		for i, dl := range all {
			want := jobs[i]
			want.State = store.JobDead
			want.Attempt = 1
			want.LastError = "reason " + strconv.Itoa(i)
			checkJob(t, fmt.Sprintf("dead letter %d", i), dl, want)
		}
		two := e.deadLetters(2)
		if len(two) != 2 || two[0].ID != jobs[0].ID || two[1].ID != jobs[1].ID {
			t.Fatalf("DeadLetters(2) = %d jobs, want the two oldest", len(two))
		}
		e.noJob("every job is dead")
	})
	t.Run("AttemptAndLastError", func(t *testing.T) {
		e := open(t, newStore)
		j := e.enqueue("k", []byte("p"))
		noErr(t, "Retry", e.b.Retry(e.ctx, e.claim(longLease), 0, "first"))
		e.deadLetter(e.claimWithin(longLease), "second")
		dl := e.deadLetters(1)
		if len(dl) != 1 {
			t.Fatalf("DeadLetters = %d jobs, want 1", len(dl))
		}
		want := j
		want.State, want.Attempt, want.LastError = store.JobDead, 2, "second"
		checkJob(t, "dead letter", dl[0], want)
	})
	t.Run("Replay", func(t *testing.T) {
		e := open(t, newStore)
		a := e.enqueue("k", []byte("a"))
		b := e.enqueue("k", []byte("b"))
		e.deadLetter(e.claimID(longLease, a), "boom")
		// Let the clock move on, so that a Replay that stamps a new
		// CreatedAt shows.
		time.Sleep(20 * time.Millisecond)
		noErr(t, "Replay", e.b.Replay(e.ctx, a.ID))
		if dl := e.deadLetters(10); len(dl) != 0 {
			t.Fatalf("DeadLetters after Replay = %d jobs, want none", len(dl))
		}
		e.stats(store.Stats{Ready: 2})
		wantErr(t, "Replay of a replayed dead letter", e.b.Replay(e.ctx, a.ID), store.ErrNotFound)
		gb := e.claimID(longLease, b)
		e.noJob("the replayed job waits behind b")
		e.complete(gb)
		ga := e.claim(longLease)
		replayed(t, "claim of the replayed job", ga, a, store.JobLeased, 1)

		// Dead again, it is listed as the same job, and replays again.
		e.deadLetter(ga, "boom again")
		dl := e.deadLetters(10)
		if len(dl) != 1 {
			t.Fatalf("DeadLetters = %d jobs, want the replayed job dead again", len(dl))
		}
		replayed(t, "the replayed job dead again", dl[0], a, store.JobDead, 1)
		if dl[0].LastError != "boom again" {
			t.Fatalf("the replayed job dead again has LastError %q, want %q", dl[0].LastError, "boom again")
		}
		time.Sleep(20 * time.Millisecond)
		noErr(t, "second Replay", e.b.Replay(e.ctx, a.ID))
		replayed(t, "claim after a second Replay", e.claim(longLease), a, store.JobLeased, 1)
		e.stats(store.Stats{Leased: 1})
	})
	t.Run("ReplayUnknown", func(t *testing.T) {
		e := open(t, newStore)
		live := e.enqueue("live", nil)
		done := e.enqueue("done", nil)
		held := map[string]store.Job{}
		for range 2 {
			j := e.claim(longLease)
			held[j.ID] = j
		}
		e.complete(held[done.ID])
		for _, id := range []string{live.ID, done.ID, "no-such-job", "999999999"} {
			wantErr(t, "Replay("+id+")", e.b.Replay(e.ctx, id), store.ErrNotFound)
			wantErr(t, "DiscardDeadLetter("+id+")", e.b.DiscardDeadLetter(e.ctx, id), store.ErrNotFound)
		}
		e.stats(store.Stats{Leased: 1})
		e.complete(held[live.ID])
	})
	t.Run("Discard", func(t *testing.T) {
		e := open(t, newStore)
		a := e.enqueue("a", nil)
		b := e.enqueue("b", nil)
		held := map[string]store.Job{}
		for range 2 {
			j := e.claim(longLease)
			held[j.ID] = j
		}
		e.deadLetter(held[a.ID], "a")
		e.deadLetter(held[b.ID], "b")
		noErr(t, "DiscardDeadLetter", e.b.DiscardDeadLetter(e.ctx, a.ID))
		dl := e.deadLetters(10)
		if len(dl) != 1 || dl[0].ID != b.ID {
			t.Fatalf("DeadLetters after discarding one of two = %d jobs, want only %s", len(dl), b.ID)
		}
		e.stats(store.Stats{Dead: 1})
		wantErr(t, "DiscardDeadLetter again", e.b.DiscardDeadLetter(e.ctx, a.ID), store.ErrNotFound)
		wantErr(t, "Replay of a discarded dead letter", e.b.Replay(e.ctx, a.ID), store.ErrNotFound)
		e.noJob("discarded jobs do not come back")
	})
}

// replayed checks that got, a replayed job in state, is the job that Enqueue
// returned as orig: same ID and CreatedAt (Replay keeps both), kind, key and
// payload, and that its Attempt counts from the Replay.
func replayed(t *testing.T, what string, got, orig store.Job, state store.JobState, attempt int) {
	t.Helper()
	var diffs []string
	if got.ID != orig.ID {
		diffs = append(diffs, fmt.Sprintf("ID %q, want %q (Replay keeps the job's ID)", got.ID, orig.ID))
	}
	if d := got.CreatedAt.Sub(orig.CreatedAt).Abs(); d > time.Millisecond {
		diffs = append(diffs, fmt.Sprintf("CreatedAt %v, want %v (Replay keeps the job's CreatedAt)", got.CreatedAt, orig.CreatedAt))
	}
	if got.Kind != orig.Kind || got.Key != orig.Key || !bytes.Equal(got.Payload, orig.Payload) {
		diffs = append(diffs, fmt.Sprintf("kind %q, key %q, payload %q; want %q, %q, %q", got.Kind, got.Key, got.Payload, orig.Kind, orig.Key, orig.Payload))
	}
	if got.State != state || got.Attempt != attempt {
		diffs = append(diffs, fmt.Sprintf("state %q at attempt %d, want %q at attempt %d", got.State, got.Attempt, state, attempt))
	}
	if len(diffs) > 0 {
		t.Fatalf("%s: job differs: %v", what, diffs)
	}
}
