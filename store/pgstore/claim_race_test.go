package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsrelay/smsrelay/store"
)

// These tests force interleavings of concurrent statements that timing
// alone would make rare: the Claim statement under test is made to wait,
// after it took its snapshot and before it locks anything, on an advisory
// lock that the test holds from another connection; meanwhile the test
// runs other calls, then lets Claim go on.

// pausedClaim returns the claim statement of s made to wait on the
// advisory lock lock once its snapshot is taken, before it looks at the key
// rows.
func pausedClaim(t *testing.T, s *Store, lock int64) string {
	t.Helper()
	const head = "WITH due_key AS ("
	if strings.Count(s.q.claim, head) != 1 {
		t.Fatalf("claim statement has no single %q to pause at", head)
	}
	pause := fmt.Sprintf("WITH pause AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(%d)),\ndue_key AS (", lock)
	q := strings.Replace(s.q.claim, head, pause, 1)
	// due_key must read the pause, or PostgreSQL skips it.
	const where = "WHERE due_at <= now()"
	if strings.Count(q, where) != 1 {
		t.Fatalf("claim statement has no single %q to hang the pause on", where)
	}
	return strings.Replace(q, where, where+" AND EXISTS (SELECT FROM pause)", 1)
}

// internalStore returns a Store in a fresh, migrated schema, and its pool.
func internalStore(t *testing.T) (*Store, *pgxpool.Pool) {
	t.Helper()
	url := os.Getenv("SMSRELAY_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("pgstore: SMSRELAY_TEST_POSTGRES_URL not set; skipping Postgres tests")
	}
	ctx := t.Context()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 10 // a test holds several connections at once
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "smsrelay_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	if err := Migrate(ctx, pool, WithSchema(schema)); err != nil {
		t.Fatal(err)
	}
	s, err := New(pool, WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	return s, pool
}

// claimResult is what a paused Claim returned.
type claimResult struct {
	job store.Job
	err error
}

// startPausedClaim holds an advisory lock on a connection of its own,
// starts a Claim with lease that waits on it, and returns once that Claim
// waits, with a function that lets it go on and returns what it returned.
// The lock's number is random, so that test runs sharing the database do
// not wait on each other.
func startPausedClaim(t *testing.T, s *Store, pool *pgxpool.Pool, lease time.Duration) func() claimResult {
	t.Helper()
	ctx := t.Context()
	pauseLock := mathrand.Int64N(1 << 31) // classid 0, objid pauseLock in pg_locks
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", pauseLock); err != nil {
		holder.Release()
		t.Fatal(err)
	}
	sql := pausedClaim(t, s, pauseLock)
	done := make(chan claimResult, 1)
	go func() {
		job, err := scanJob(pool.QueryRow(ctx, sql, "paused-claim-token", micros(lease)))
		if errors.Is(err, pgx.ErrNoRows) {
			err = store.ErrNoJob
		}
		done <- claimResult{job, err}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE locktype = 'advisory' AND classid = 0 AND objid = $1 AND NOT granted)`, pauseLock).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the paused Claim never reached its pause")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return func() claimResult {
		t.Helper()
		if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", pauseLock); err != nil {
			t.Fatal(err)
		}
		holder.Release()
		select {
		case r := <-done:
			return r
		case <-time.After(30 * time.Second):
			t.Fatal("the paused Claim did not return")
			return claimResult{}
		}
	}
}

// TestClaimAfterReplayInItsWindow replays a key's lapsed head while a
// Claim that had already taken its snapshot waits: the holder dead-letters
// the job, and a Replay that began before the Claim puts it back, behind
// the key's other job. That job either waited all along or was enqueued
// while the Claim waited, so that the Claim's snapshot does not show it.
// The Claim then locks a row that its snapshot shows as the key's head but
// that now stands behind another job; it must not lease it ahead of that
// job.
func TestClaimAfterReplayInItsWindow(t *testing.T) {
	for _, enqueueInWindow := range []bool{false, true} {
		name := "OlderJobWaits"
		if enqueueInWindow {
			name = "JobEnqueuedInTheWindow"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			claimAfterReplayInItsWindow(t, enqueueInWindow)
		})
	}
}

func claimAfterReplayInItsWindow(t *testing.T, enqueueInWindow bool) {
	s, pool := internalStore(t)
	ctx := t.Context()
	first, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "a", Payload: []byte("first")})
	if err != nil {
		t.Fatal(err)
	}
	other := store.NewJob{Kind: "k", Key: "a", Payload: []byte("other")}
	var otherID string
	if !enqueueInWindow {
		j, err := s.Enqueue(ctx, other)
		if err != nil {
			t.Fatal(err)
		}
		otherID = j.ID
	}
	held, err := s.Claim(ctx, time.Millisecond)
	if err != nil || held.ID != first.ID {
		t.Fatalf("Claim = %+v, %v; want the first job", held, err)
	}
	time.Sleep(20 * time.Millisecond) // the lease lapses

	// A Replay, and the Enqueue of the other job when it comes in the
	// window, that begin now, before the Claim: their transactions' now()
	// is earlier than the Claim's, so the jobs they put back or add are
	// due when the Claim looks.
	begin := func() pgx.Tx {
		t.Helper()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tx.Rollback(context.Background()) }) // a no-op once committed
		if _, err := tx.Exec(ctx, "SELECT now()"); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	replay, enqueue := begin(), begin()
	time.Sleep(5 * time.Millisecond)

	resume := startPausedClaim(t, s, pool, time.Minute)
	if enqueueInWindow {
		j, err := s.EnqueueTx(ctx, enqueue, other)
		if err != nil {
			t.Fatal(err)
		}
		if err := enqueue.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		otherID = j.ID
	}
	// The holder gives up on its job, and the Replay puts it back.
	if err := s.DeadLetter(ctx, held, "failed"); err != nil {
		t.Fatal(err)
	}
	id := jobID(t, first.ID)
	var key string
	if err := replay.QueryRow(ctx, s.q.deadLetterKey, id).Scan(&key); err != nil {
		t.Fatal(err)
	}
	if tag, err := replay.Exec(ctx, s.q.replay, id, key); err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("replay: %v, %v", tag, err)
	}
	if err := replay.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	r := resume()
	switch {
	case r.err == nil && r.job.ID == first.ID:
		t.Fatalf("Claim leased the replayed job %s while the older job %s of its key waits", first.ID, otherID)
	case r.err == nil && r.job.ID != otherID:
		t.Fatalf("Claim leased job %s, want %s or none", r.job.ID, otherID)
	case r.err != nil && !errors.Is(r.err, store.ErrNoJob):
		t.Fatal(r.err)
	case r.err != nil:
		// An empty claim; a later one must find the key's real head.
		deadline := time.Now().Add(10 * time.Second)
		for {
			j, err := s.Claim(ctx, time.Minute)
			if errors.Is(err, store.ErrNoJob) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			if err != nil || j.ID != otherID {
				t.Fatalf("Claim after the paused one = %+v, %v; want job %s", j, err, otherID)
			}
			break
		}
	}
}

// jobID parses a job id as the store hands it out.
func jobID(t *testing.T, id string) int64 {
	t.Helper()
	n, err := deadLetterID(t.Context(), "test", id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
