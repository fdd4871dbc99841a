package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/pgstore"
)

// TestLongestDurations checks that the longest time.Duration works as a
// lease, a retry delay and a TTL: it lies about 292 years ahead, not in
// the past.
func TestLongestDurations(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	const forever = time.Duration(math.MaxInt64)
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "a", DedupeKey: "d", DedupeTTL: forever}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "a", DedupeKey: "d", DedupeTTL: time.Hour}); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("Enqueue after a DedupeTTL of MaxInt64 = %v, want ErrDuplicate", err)
	}
	j, err := s.Claim(ctx, forever)
	if err != nil {
		t.Fatal(err)
	}
	if other, err := s.Claim(ctx, time.Minute); !errors.Is(err, store.ErrNoJob) {
		t.Fatalf("Claim during a lease of MaxInt64 = %+v, %v; want ErrNoJob", other, err)
	}
	if err := s.Extend(ctx, j, forever); err != nil {
		t.Fatal(err)
	}
	if other, err := s.Claim(ctx, time.Minute); !errors.Is(err, store.ErrNoJob) {
		t.Fatalf("Claim after Extend by MaxInt64 = %+v, %v; want ErrNoJob", other, err)
	}
	if err := s.Retry(ctx, j, forever, "later"); err != nil {
		t.Fatal(err)
	}
	if other, err := s.Claim(ctx, time.Minute); !errors.Is(err, store.ErrNoJob) {
		t.Fatalf("Claim after Retry with a delay of MaxInt64 = %+v, %v; want ErrNoJob", other, err)
	}
	if isNew, err := s.MarkSeen(ctx, "forever", forever); err != nil || !isNew {
		t.Fatalf("MarkSeen = %v, %v; want true", isNew, err)
	}
	if isNew, err := s.MarkSeen(ctx, "forever", time.Hour); err != nil || isNew {
		t.Fatalf("MarkSeen after a TTL of MaxInt64 = %v, %v; want false", isNew, err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	ctx := t.Context()
	schema := testSchema(t, pool)
	s, err := pgstore.New(pool, pgstore.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	mustFail := func(when string, want ...string) {
		t.Helper()
		err := s.Check(ctx)
		if !errors.Is(err, pgstore.ErrSchemaVersion) {
			t.Fatalf("Check %s = %v, want ErrSchemaVersion", when, err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Check %s = %q, want it to mention %q", when, err, w)
			}
		}
	}
	mustFail("before Migrate", "pgstore.Migrate", schema)
	if err := pgstore.Migrate(ctx, pool, pgstore.WithSchema(schema)); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check after Migrate: %v", err)
	}
	table := pgx.Identifier{schema, "schema_migrations"}.Sanitize()
	if _, err := pool.Exec(ctx, "DELETE FROM "+table+" WHERE version = 2"); err != nil {
		t.Fatal(err)
	}
	mustFail("with a migration missing", "0002_job_keys_due_at.sql", "pgstore.Migrate")
	if _, err := pool.Exec(ctx, "INSERT INTO "+table+" (version, name) VALUES (2, 'x'), (9999, '9999_future.sql')"); err != nil {
		t.Fatal(err)
	}
	mustFail("with a migration from a newer version", "9999", "newer version")
	err = pgstore.Migrate(ctx, pool, pgstore.WithSchema(schema))
	if !errors.Is(err, pgstore.ErrSchemaVersion) || !strings.Contains(err.Error(), "9999") {
		t.Fatalf("Migrate of a schema migrated by a newer version = %v, want ErrSchemaVersion naming 9999", err)
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Check(ctx2); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check with a canceled context = %v", err)
	}
}

// TestUpgradeFromFirstSchema fills a schema made by the first migration
// alone with jobs in every state, then migrates it and checks that the
// queue carries on: each key's due time is taken from its head job.
func TestUpgradeFromFirstSchema(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	ctx := t.Context()
	schema := testSchema(t, pool)
	quoted := pgx.Identifier{schema}.Sanitize()
	init, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	// What Migrate of the first version left behind.
	_, err = pool.Exec(ctx, "CREATE SCHEMA "+quoted+";\n"+strings.ReplaceAll(string(init), "{schema}", quoted)+`;
		CREATE TABLE `+quoted+`.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO `+quoted+`.schema_migrations (version, name) VALUES (1, '0001_init.sql');
		-- key leased: head leased for an hour, one job behind it
		INSERT INTO `+quoted+`.job_keys (key, pending, lease_until) VALUES ('leased', 2, now() + interval '1 hour');
		INSERT INTO `+quoted+`.jobs (kind, key, payload, state, attempt, lease_token, lease_until)
			VALUES ('k', 'leased', '', 'leased', 1, 'tok', now() + interval '1 hour');
		INSERT INTO `+quoted+`.jobs (kind, key, payload) VALUES ('k', 'leased', '');
		-- key waiting: head in an hour-long retry delay
		INSERT INTO `+quoted+`.job_keys (key, pending) VALUES ('waiting', 1);
		INSERT INTO `+quoted+`.jobs (kind, key, payload, attempt, run_at) VALUES ('k', 'waiting', '', 1, now() + interval '1 hour');
		-- key lapsed: head's lease ran out
		INSERT INTO `+quoted+`.job_keys (key, pending, lease_until) VALUES ('lapsed', 1, now() - interval '1 minute');
		INSERT INTO `+quoted+`.jobs (kind, key, payload, state, attempt, lease_token, lease_until)
			VALUES ('k', 'lapsed', '', 'leased', 1, 'old', now() - interval '1 minute');
		-- key ready: a job that may run
		INSERT INTO `+quoted+`.job_keys (key, pending) VALUES ('ready', 1);
		INSERT INTO `+quoted+`.jobs (kind, key, payload) VALUES ('k', 'ready', '')`)
	if err != nil {
		t.Fatal(err)
	}
	if err := pgstore.Migrate(ctx, pool, pgstore.WithSchema(schema)); err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.New(pool, pgstore.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 2 {
		j, err := s.Claim(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		got[j.Key] = true
		if j.Key == "lapsed" && j.Attempt != 2 {
			t.Errorf("lapsed job claimed with attempt %d, want 2", j.Attempt)
		}
	}
	if !got["lapsed"] || !got["ready"] {
		t.Errorf("claimed keys %v after the upgrade, want lapsed and ready", got)
	}
	if j, err := s.Claim(ctx, time.Minute); !errors.Is(err, store.ErrNoJob) {
		t.Fatalf("third Claim = %+v, %v; want ErrNoJob (leased and waiting keys are not due)", j, err)
	}
}

// TestStaleDueTimeHeals makes a key look due while its head is leased (as
// a replica of an older version, which does not keep due_at, would leave
// it): one Claim finds nothing, sets the due time right, and the next one
// claims the other key's job.
func TestStaleDueTimeHeals(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := t.Context()
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "busy"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "busy"}); err != nil {
		t.Fatal(err)
	}
	keys := pgx.Identifier{s.Schema(), "job_keys"}.Sanitize()
	if _, err := pool.Exec(ctx, "UPDATE "+keys+" SET due_at = now() - interval '1 day' WHERE key = 'busy'"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "free"}); err != nil {
		t.Fatal(err)
	}
	first, err := s.Claim(ctx, time.Minute)
	switch {
	case err == nil && first.Key == "busy":
		t.Fatalf("claimed job %s of key busy while its head is leased", first.ID)
	case err != nil && !errors.Is(err, store.ErrNoJob):
		t.Fatal(err)
	}
	var healed bool
	if err := pool.QueryRow(ctx, "SELECT due_at > now() + interval '50 minutes' FROM "+keys+" WHERE key = 'busy'").Scan(&healed); err != nil {
		t.Fatal(err)
	}
	if !healed {
		t.Error("due_at of key busy was not set to its head's lease expiry")
	}
	if err != nil { // the empty Claim; the next one must find key free
		j, err := s.Claim(ctx, time.Minute)
		if err != nil || j.Key != "free" {
			t.Fatalf("Claim after the due time was set right = %+v, %v; want the job of key free", j, err)
		}
	}
}

// previousRelease holds the statements with which a replica of the release
// before due_at (migration 0002) ends a lease, as that release ran them:
// they clear the key row's lease_until and leave due_at alone. $1 id, $2
// key, $3 lease token.
var previousRelease = map[string]string{
	"Complete": `WITH done AS (
		DELETE FROM {schema}.jobs
		WHERE id = $1 AND key = $2 AND lease_token = $3 AND state = 'leased'
		RETURNING key
	)
	UPDATE {schema}.job_keys k
	SET pending = k.pending - 1, lease_until = NULL
	FROM done
	WHERE k.key = done.key
	RETURNING 1`,
	"Retry": `WITH retried AS (
		UPDATE {schema}.jobs
		SET state = 'ready', run_at = now(), lease_token = NULL, lease_until = NULL, last_error = 'again'
		WHERE id = $1 AND key = $2 AND lease_token = $3 AND state = 'leased'
		RETURNING key
	)
	UPDATE {schema}.job_keys k
	SET lease_until = NULL
	FROM retried
	WHERE k.key = retried.key
	RETURNING 1`,
	"DeadLetter": `WITH dead AS (
		UPDATE {schema}.jobs
		SET state = 'dead', dead_at = now(), lease_token = NULL, lease_until = NULL, last_error = 'dead'
		WHERE id = $1 AND key = $2 AND lease_token = $3 AND state = 'leased'
		RETURNING key
	)
	UPDATE {schema}.job_keys k
	SET pending = k.pending - 1, lease_until = NULL
	FROM dead
	WHERE k.key = dead.key
	RETURNING 1`,
}

// TestPreviousReleaseEndsLease lets a replica of the release before due_at
// end a lease that this release granted, as happens during a rolling
// upgrade, and checks that the key's next job (or the retried job) can be
// claimed at once, at the cost of one empty Claim at most, instead of
// waiting for the lease the old replica ended to run out.
func TestPreviousReleaseEndsLease(t *testing.T) {
	t.Parallel()
	for op, sql := range previousRelease {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			s, pool := newStore(t)
			ctx := t.Context()
			first, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "a"})
			if err != nil {
				t.Fatal(err)
			}
			second, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "a"})
			if err != nil {
				t.Fatal(err)
			}
			held, err := s.Claim(ctx, time.Hour)
			if err != nil || held.ID != first.ID {
				t.Fatalf("Claim = %+v, %v; want job %s", held, err, first.ID)
			}
			quoted := pgx.Identifier{s.Schema()}.Sanitize()
			var one int
			if err := pool.QueryRow(ctx, strings.ReplaceAll(sql, "{schema}", quoted), held.ID, held.Key, held.Lease).Scan(&one); err != nil {
				t.Fatalf("the previous release's %s: %v", op, err)
			}
			want := second.ID
			if op == "Retry" {
				want = first.ID
			}
			for i := range 2 {
				j, err := s.Claim(ctx, time.Minute)
				if errors.Is(err, store.ErrNoJob) && i == 0 {
					continue // the one empty Claim allowed
				}
				if err != nil || j.ID != want {
					t.Fatalf("Claim %d after the previous release's %s = %+v, %v; want job %s",
						i+1, op, j, err, want)
				}
				return
			}
		})
	}
}

// migrateTo makes schema as Migrate of a release whose last migration was
// version left it: the embedded migrations up to version, each recorded.
func migrateTo(t *testing.T, pool *pgxpool.Pool, schema string, version int) {
	t.Helper()
	ctx := t.Context()
	quoted := pgx.Identifier{schema}.Sanitize()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	sql := "CREATE SCHEMA " + quoted + ";\nCREATE TABLE " + quoted +
		".schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());\n"
	for _, f := range files {
		name := filepath.Base(f)
		v, err := strconv.Atoi(name[:4])
		if err != nil {
			t.Fatal(err)
		}
		if v > version {
			break
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sql += strings.ReplaceAll(string(b), "{schema}", quoted) + ";\n" +
			fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name) VALUES (%d, '%s');\n", quoted, v, name)
	}
	if _, err := pool.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeStartedMessages migrates a schema holding a message that an
// earlier release recorded with the status "received:started-conversation"
// and checks that the migration rewrites it to the status "received" with
// Started set; and that a row a replica of that release writes during the
// rolling upgrade reads the same way, also once its status moved on.
func TestUpgradeStartedMessages(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	ctx := t.Context()
	schema := testSchema(t, pool)
	migrateTo(t, pool, schema, 3)
	quoted := pgx.Identifier{schema}.Sanitize()
	// What the previous release's PutMessage and PutThread write.
	const oldPutMessage = `INSERT INTO {schema}.messages (sid, conversation_id, part_id, customer, sender, status, status_rank, error_code)
		VALUES ($1, 'conv-1', '', '+15550000001', '+15559990000', $2, 0, 0)`
	oldPut := func(sid, status string) {
		t.Helper()
		if _, err := pool.Exec(ctx, strings.ReplaceAll(oldPutMessage, "{schema}", quoted), sid, status); err != nil {
			t.Fatal(err)
		}
	}
	oldPut("SM-started", "received:started-conversation")
	oldPut("SM-added", "received")
	if _, err := pool.Exec(ctx, "INSERT INTO "+quoted+`.threads (customer, sender, contact_id, conversation_id, state)
		VALUES ('+15550000001', '+15559990000', 'c1', 'conv-1', 'closed')`); err != nil {
		t.Fatal(err)
	}
	if err := pgstore.Migrate(ctx, pool, pgstore.WithSchema(schema)); err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.New(pool, pgstore.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	var status string
	var started bool
	if err := pool.QueryRow(ctx, "SELECT status, started FROM "+quoted+".messages WHERE sid = 'SM-started'").Scan(&status, &started); err != nil {
		t.Fatal(err)
	}
	if status != "received" || !started {
		t.Errorf("migrated row has status %q, started %v; want received, true", status, started)
	}
	want := func(sid string, status string, started bool) {
		t.Helper()
		m, err := s.Message(ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != status || m.Started != started {
			t.Errorf("Message(%s) = status %q, Started %v; want %q, %v", sid, m.Status, m.Started, status, started)
		}
	}
	want("SM-started", "received", true)
	want("SM-added", "received", false)
	th, err := s.Thread(ctx, store.ThreadKey{Customer: "+15550000001", Sender: "+15559990000"})
	if err != nil || !th.StateAt.IsZero() || th.State != store.StateClosed {
		t.Errorf("Thread from before the migration = %+v, %v; want it closed with a zero StateAt", th, err)
	}

	// A replica of the previous release writes the old status after the
	// migration.
	oldPut("SM-late", "received:started-conversation")
	want("SM-late", "received", true)
	m, changed, err := s.AdvanceMessageStatus(ctx, "SM-late", "delivered", 0)
	if err != nil || !changed || m.Status != "delivered" || !m.Started {
		t.Fatalf("AdvanceMessageStatus of an old-style row = %+v, %v, %v; want delivered and Started", m, changed, err)
	}
	want("SM-late", "delivered", true)
}
