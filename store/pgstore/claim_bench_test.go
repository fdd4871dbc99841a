package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/pgstore"
)

// backlogKeys and backlogPerKey shape the backlog of BenchmarkClaimBacklog:
// backlogKeys keys whose head job waits in a long retry delay, each with
// backlogPerKey-1 jobs behind it.
const (
	backlogKeys   = 1000
	backlogPerKey = 100
)

// addBacklog puts the heads of backlogKeys keys into an hour-long retry
// delay through the public API, then adds the jobs waiting behind them in
// bulk. Those jobs do not change any key's head, so bulk rows are as good
// as enqueued ones here.
func addBacklog(tb testing.TB, s *pgstore.Store, pool *pgxpool.Pool) {
	tb.Helper()
	ctx := context.Background()
	for i := range backlogKeys {
		if _, err := s.Enqueue(ctx, store.NewJob{Kind: "bench", Key: fmt.Sprint("k", i)}); err != nil {
			tb.Fatal(err)
		}
	}
	for range backlogKeys {
		j, err := s.Claim(ctx, time.Minute)
		if err != nil {
			tb.Fatal(err)
		}
		if err := s.Retry(ctx, j, time.Hour, "later"); err != nil {
			tb.Fatal(err)
		}
	}
	sc := s.Schema()
	_, err := pool.Exec(ctx, fmt.Sprintf(`
		INSERT INTO %[1]s.jobs (kind, key, payload)
		SELECT 'bench', 'k' || (g %% %[2]d), ''::bytea FROM generate_series(1, %[2]d * %[3]d) g;
		UPDATE %[1]s.job_keys SET pending = pending + %[3]d;
		ANALYZE %[1]s.jobs;
		ANALYZE %[1]s.job_keys`, sc, backlogKeys, backlogPerKey-1))
	if err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkClaimBacklog measures Claim with 100,000 jobs waiting behind
// 1,000 keys whose heads are in a retry delay (as during an outage of the
// API the jobs call): Idle is a poll that finds nothing to run, Runnable
// claims the one runnable job (of another key) and gives it back with
// Retry.
func BenchmarkClaimBacklog(b *testing.B) {
	s, pool := newStore(b)
	ctx := context.Background()
	addBacklog(b, s, pool)
	b.Run("Idle", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Claim(ctx, time.Minute); !errors.Is(err, store.ErrNoJob) {
				b.Fatalf("Claim = %v, want ErrNoJob", err)
			}
		}
	})
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "bench", Key: "runnable"}); err != nil {
		b.Fatal(err)
	}
	b.Run("Runnable", func(b *testing.B) {
		for b.Loop() {
			j, err := s.Claim(ctx, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			if j.Key != "runnable" {
				b.Fatalf("claimed a job of key %q, want key runnable", j.Key)
			}
			if err := s.Retry(ctx, j, 0, "again"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkClaimHotKey measures Claim when one key has 100,000 jobs behind
// its leased head and another key has one runnable job.
func BenchmarkClaimHotKey(b *testing.B) {
	s, pool := newStore(b)
	ctx := context.Background()
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "bench", Key: "hot"}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Claim(ctx, time.Hour); err != nil {
		b.Fatal(err)
	}
	_, err := pool.Exec(ctx, fmt.Sprintf(`
		INSERT INTO %[1]s.jobs (kind, key, payload)
		SELECT 'bench', 'hot', ''::bytea FROM generate_series(1, 100000);
		UPDATE %[1]s.job_keys SET pending = pending + 100000 WHERE key = 'hot';
		ANALYZE %[1]s.jobs;
		ANALYZE %[1]s.job_keys`, s.Schema()))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "bench", Key: "cold"}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		j, err := s.Claim(ctx, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if j.Key != "cold" {
			b.Fatalf("claimed a job of key %q, want key cold", j.Key)
		}
		if err := s.Retry(ctx, j, 0, "again"); err != nil {
			b.Fatal(err)
		}
	}
}
