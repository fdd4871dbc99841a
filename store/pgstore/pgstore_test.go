package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/pgstore"
	"github.com/smsrelay/smsrelay/store/storetest"
)

const urlEnv = "SMSRELAY_TEST_POSTGRES_URL"

// testPool connects to the database named by SMSRELAY_TEST_POSTGRES_URL, or
// skips the test when it is not set.
func testPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	url := os.Getenv(urlEnv)
	if url == "" {
		tb.Skip("pgstore: " + urlEnv + " not set; skipping Postgres tests")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatalf("parse %s: %v", urlEnv, err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// testSchema returns a fresh schema name and drops the schema when the test
// ends. It does not create it.
func testSchema(tb testing.TB, pool *pgxpool.Pool) string {
	tb.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	name := "smsrelay_test_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// newStore returns a Store in a fresh, migrated schema of its own.
func newStore(tb testing.TB, opts ...pgstore.Option) (*pgstore.Store, *pgxpool.Pool) {
	tb.Helper()
	pool := testPool(tb)
	schema := testSchema(tb, pool)
	opts = append([]pgstore.Option{pgstore.WithSchema(schema)}, opts...)
	if err := pgstore.Migrate(context.Background(), pool, opts...); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	s, err := pgstore.New(pool, opts...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return s, pool
}

// replicated is a Store that can open replicas of itself: more Stores, each
// on its own pool, on the same schema, as separate processes would.
type replicated struct{ *pgstore.Store }

// Replica implements storetest.Replicator.
func (r replicated) Replica(t *testing.T) storetest.Backend {
	s, err := pgstore.New(testPool(t), pgstore.WithSchema(r.Schema()))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		s, _ := newStore(t)
		return replicated{s}
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) storetest.Backend {
		s, _ := newStore(b)
		return s
	})
}

// BenchmarkEnqueue measures Enqueue alone, with and without a dedupe key.
func BenchmarkEnqueue(b *testing.B) {
	s, _ := newStore(b)
	ctx := context.Background()
	payload := make([]byte, 128)
	b.Run("Plain", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := s.Enqueue(ctx, store.NewJob{Kind: "bench", Key: fmt.Sprint("k", i%64), Payload: payload}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Dedupe", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			j := store.NewJob{Kind: "bench", Key: fmt.Sprint("k", i%64), Payload: payload,
				DedupeKey: fmt.Sprint("d", i), DedupeTTL: time.Hour}
			if _, err := s.Enqueue(ctx, j); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkClaimComplete measures Claim plus Complete on a queue that holds
// b.N jobs over 64 keys, enqueued before the timer starts.
func BenchmarkClaimComplete(b *testing.B) {
	s, _ := newStore(b)
	ctx := context.Background()
	for i := range b.N {
		if _, err := s.Enqueue(ctx, store.NewJob{Kind: "bench", Key: fmt.Sprint("k", i%64)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		j, err := s.Claim(ctx, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Complete(ctx, j); err != nil {
			b.Fatal(err)
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err) // pgxpool.New does not connect
	}
	defer pool.Close()
	tests := []struct {
		name    string
		pool    *pgxpool.Pool
		opts    []pgstore.Option
		wantErr string
	}{
		{"default", pool, nil, ""},
		{"schema", pool, []pgstore.Option{pgstore.WithSchema("relay_1")}, ""},
		{"nil pool", nil, nil, "nil pool"},
		{"empty schema", pool, []pgstore.Option{pgstore.WithSchema("")}, "invalid schema"},
		{"upper case", pool, []pgstore.Option{pgstore.WithSchema("Relay")}, "invalid schema"},
		{"leading digit", pool, []pgstore.Option{pgstore.WithSchema("1relay")}, "invalid schema"},
		{"injection", pool, []pgstore.Option{pgstore.WithSchema(`x"; DROP TABLE y; --`)}, "invalid schema"},
		{"too long", pool, []pgstore.Option{pgstore.WithSchema(strings.Repeat("a", 64))}, "invalid schema"},
		{"reserved", pool, []pgstore.Option{pgstore.WithSchema("pg_relay")}, "reserved"},
		{"zero sweep", pool, []pgstore.Option{pgstore.WithSweepInterval(0)}, "not positive"},
		{"nil option", pool, []pgstore.Option{nil}, "option 0 is nil"},
		{"nil logger ok", pool, []pgstore.Option{pgstore.WithLogger(nil)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := pgstore.New(tt.pool, tt.opts...)
			if tt.wantErr == "" {
				if err != nil || s == nil {
					t.Fatalf("New = %v, %v; want a store", s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
			}
			// Migrate validates the same way, before any I/O.
			if err := pgstore.Migrate(context.Background(), tt.pool, tt.opts...); err == nil {
				t.Fatalf("Migrate succeeded, want an error containing %q", tt.wantErr)
			}
		})
	}
}

func TestSchemaDefault(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := pgstore.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	if s.Schema() != pgstore.DefaultSchema {
		t.Fatalf("Schema() = %q, want %q", s.Schema(), pgstore.DefaultSchema)
	}
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	schema := testSchema(t, pool)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pgstore.Migrate(ctx, pool, pgstore.WithSchema(schema))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Migrate #%d: %v", i, err)
		}
	}
	countVersions := func() int {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+schema+".schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := countVersions()
	if n < 1 {
		t.Fatalf("schema_migrations has %d rows, want at least 1", n)
	}
	if err := pgstore.Migrate(ctx, pool, pgstore.WithSchema(schema)); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if got := countVersions(); got != n {
		t.Fatalf("schema_migrations has %d rows after a second Migrate, want %d", got, n)
	}
	// The migrated schema works.
	s, err := pgstore.New(pool, pgstore.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "a"}); err != nil {
		t.Fatalf("Enqueue on migrated schema: %v", err)
	}
}

func TestMigrateExistingSchema(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	schema := testSchema(t, pool)
	if _, err := pool.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	if err := pgstore.Migrate(t.Context(), pool, pgstore.WithSchema(schema)); err != nil {
		t.Fatalf("Migrate into an existing empty schema: %v", err)
	}
}

func TestNotMigrated(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	s, err := pgstore.New(pool, pgstore.WithSchema(testSchema(t, pool)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Contact(t.Context(), "+15550001111")
	if err == nil || errors.Is(err, store.ErrNotFound) || !strings.HasPrefix(err.Error(), "pgstore: ") {
		t.Fatalf("Contact on an unmigrated schema = %v, want a pgstore error that is not ErrNotFound", err)
	}
}

func TestLeaseLapseReclaimed(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	enq, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "a", Payload: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Claim(ctx, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if first.ID != enq.ID || first.Attempt != 1 {
		t.Fatalf("first claim = %+v, want job %s attempt 1", first, enq.ID)
	}
	if _, err := s.Claim(ctx, time.Minute); !errors.Is(err, store.ErrNoJob) {
		t.Fatalf("Claim while leased = %v, want ErrNoJob", err)
	}
	time.Sleep(300 * time.Millisecond)
	second, err := s.Claim(ctx, time.Minute)
	if err != nil {
		t.Fatalf("Claim after the lease lapsed: %v", err)
	}
	if second.ID != enq.ID || second.Attempt != 2 || second.Lease == first.Lease {
		t.Fatalf("second claim = %+v, want job %s attempt 2 with a new lease", second, enq.ID)
	}
	for name, f := range map[string]func() error{
		"Complete":   func() error { return s.Complete(ctx, first) },
		"Extend":     func() error { return s.Extend(ctx, first, time.Minute) },
		"Retry":      func() error { return s.Retry(ctx, first, 0, "x") },
		"DeadLetter": func() error { return s.DeadLetter(ctx, first, "x") },
	} {
		if err := f(); !errors.Is(err, store.ErrLeaseLost) {
			t.Errorf("%s with the lapsed lease = %v, want ErrLeaseLost", name, err)
		}
	}
	if err := s.Complete(ctx, second); err != nil {
		t.Fatalf("Complete with the current lease: %v", err)
	}
	st, err := s.Stats(ctx)
	if err != nil || st != (store.Stats{}) {
		t.Fatalf("Stats = %+v, %v; want empty", st, err)
	}
}

// TestKeyExclusionUnderLoad runs enqueuers and claimers at once over a few
// keys and checks that no two jobs of one key are ever held together and
// that the jobs each enqueuer adds to a key run in the order it added them.
// Two enqueuers share each key, so that enqueues of one key commit out of
// sequence order while claimers run.
func TestKeyExclusionUnderLoad(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	const (
		keys      = 4
		enqueuers = 2 // per key
		perEnq    = 30
		workers   = 6
		total     = keys * enqueuers * perEnq
	)
	var (
		mu      sync.Mutex
		holding = map[string]string{} // key → job id held
		next    = map[string]int{}    // "key/enqueuer" → next number expected
		done    atomic.Int64
		fail    = make(chan string, 1)
	)
	report := func(msg string) {
		select {
		case fail <- msg:
		default:
		}
	}
	var wg sync.WaitGroup
	for k := range keys {
		for e := range enqueuers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perEnq {
					j := store.NewJob{Kind: "k", Key: fmt.Sprint("key", k), Payload: []byte(fmt.Sprintf("key%d/%d %d", k, e, i))}
					if _, err := s.Enqueue(ctx, j); err != nil {
						report("Enqueue: " + err.Error())
						return
					}
				}
			}()
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done.Load() < total && time.Now().Before(deadline) {
				j, err := s.Claim(ctx, 10*time.Second)
				if errors.Is(err, store.ErrNoJob) {
					time.Sleep(100 * time.Microsecond)
					continue
				}
				if err != nil {
					report("Claim: " + err.Error())
					return
				}
				var (
					src string
					n   int
				)
				if _, err := fmt.Sscan(string(j.Payload), &src, &n); err != nil {
					report(fmt.Sprintf("payload %q: %v", j.Payload, err))
					return
				}
				mu.Lock()
				if other, busy := holding[j.Key]; busy {
					mu.Unlock()
					report(fmt.Sprintf("job %s of key %s claimed while job %s of that key is held", j.ID, j.Key, other))
					return
				}
				if next[src] != n {
					mu.Unlock()
					report(fmt.Sprintf("job %d of %s ran, want job %d first", n, src, next[src]))
					return
				}
				next[src]++
				holding[j.Key] = j.ID
				mu.Unlock()
				time.Sleep(100 * time.Microsecond)
				mu.Lock()
				delete(holding, j.Key)
				mu.Unlock()
				if err := s.Complete(ctx, j); err != nil {
					report("Complete: " + err.Error())
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	select {
	case msg := <-fail:
		t.Fatal(msg)
	default:
	}
	if got := done.Load(); got != total {
		t.Fatalf("%d jobs done, want %d", got, total)
	}
}

func TestSweepExpired(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t, pgstore.WithSweepInterval(50*time.Millisecond))
	ctx := t.Context()
	count := func() int {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+s.Schema()+".seen_keys").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := range 3 {
		if ok, err := s.MarkSeen(ctx, fmt.Sprint("short", i), time.Second); err != nil || !ok {
			t.Fatalf("MarkSeen = %v, %v", ok, err)
		}
	}
	if _, err := s.MarkSeen(ctx, "long", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "a", DedupeKey: "dd", DedupeTTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 5 {
		t.Fatalf("%d seen keys, want 5", n)
	}
	// The TTLs are a second, not less, so that a slow machine cannot let
	// them run out (and a sweep take them) before the first count.
	time.Sleep(1200 * time.Millisecond)
	// The next MarkSeen sweeps the four expired keys on its own.
	if _, err := s.MarkSeen(ctx, "trigger", time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d seen keys after the automatic sweep, want 2 (long, trigger)", n)
	}
	n, err := s.SweepExpired(ctx)
	if err != nil || n != 0 {
		t.Fatalf("SweepExpired = %d, %v; want 0, nil", n, err)
	}
}

func TestEnqueueTx(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := t.Context()
	j := store.NewJob{Kind: "k", Key: "a", Payload: []byte("p"), DedupeKey: "d1", DedupeTTL: time.Hour}

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueTx(ctx, tx, j); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, time.Minute); !errors.Is(err, store.ErrNoJob) {
		t.Fatalf("Claim after a rolled back EnqueueTx = %v, want ErrNoJob", err)
	}

	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := s.EnqueueTx(ctx, tx, j)
		return err
	})
	if err != nil {
		t.Fatalf("EnqueueTx after rollback (dedupe key must not be recorded): %v", err)
	}
	got, err := s.Claim(ctx, time.Minute)
	if err != nil || string(got.Payload) != "p" {
		t.Fatalf("Claim = %+v, %v; want the committed job", got, err)
	}
	if _, err := s.Enqueue(ctx, j); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("Enqueue with the committed dedupe key = %v, want ErrDuplicate", err)
	}
	if _, err := s.EnqueueTx(ctx, nil, j); err == nil {
		t.Fatal("EnqueueTx with a nil querier succeeded")
	}
}

// TestOperatorQueries runs the SQL shown in the package documentation.
func TestOperatorQueries(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := t.Context()
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "send", Key: "a", Payload: []byte(`{"x":1}`)}); err != nil {
		t.Fatal(err)
	}
	j, err := s.Claim(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeadLetter(ctx, j, "twilio said 21610"); err != nil {
		t.Fatal(err)
	}
	q := strings.ReplaceAll(`SELECT id, kind, key, attempt, last_error, created_at, dead_at
FROM smsrelay.jobs WHERE state = 'dead' ORDER BY dead_at`, "smsrelay.", s.Schema()+".")
	var (
		id                  int64
		kind, key, lastErr  string
		attempt             int
		created, deadAtTime time.Time
	)
	if err := pool.QueryRow(ctx, q).Scan(&id, &kind, &key, &attempt, &lastErr, &created, &deadAtTime); err != nil {
		t.Fatalf("dead letter query: %v", err)
	}
	if fmt.Sprint(id) != j.ID || kind != "send" || lastErr != "twilio said 21610" || attempt != 1 {
		t.Fatalf("dead letter row = %d %s %s %d %q", id, kind, key, attempt, lastErr)
	}
	var ready, leased, dead int
	q = strings.ReplaceAll(`SELECT count(*) FILTER (WHERE state = 'ready'), count(*) FILTER (WHERE state = 'leased'),
       count(*) FILTER (WHERE state = 'dead') FROM smsrelay.jobs`, "smsrelay.", s.Schema()+".")
	if err := pool.QueryRow(ctx, q).Scan(&ready, &leased, &dead); err != nil || dead != 1 {
		t.Fatalf("state counts = %d %d %d, %v", ready, leased, dead, err)
	}
}

// TestKeyRowsCleanedUp checks that the per-key rows go away with the last
// job of their key, whether it completes or dies.
func TestKeyRowsCleanedUp(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := t.Context()
	for _, k := range []string{"a", "b", "b"} {
		if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: k}); err != nil {
			t.Fatal(err)
		}
	}
	keyRows := func() int {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+s.Schema()+".job_keys").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := keyRows(); n != 2 {
		t.Fatalf("%d key rows, want 2", n)
	}
	for i := range 3 {
		j, err := s.Claim(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			err = s.DeadLetter(ctx, j, "x")
		} else {
			err = s.Complete(ctx, j)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := keyRows(); n != 0 {
		t.Fatalf("%d key rows after every job finished, want 0", n)
	}
	dl, err := s.DeadLetters(ctx, 10)
	if err != nil || len(dl) != 1 {
		t.Fatalf("DeadLetters = %v, %v", dl, err)
	}
	if err := s.Replay(ctx, dl[0].ID); err != nil {
		t.Fatal(err)
	}
	if n := keyRows(); n != 1 {
		t.Fatalf("%d key rows after Replay, want 1", n)
	}
}
