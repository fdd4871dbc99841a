// Package pgstore implements [store.Store] and [store.Queue] in PostgreSQL,
// on a [pgxpool.Pool] the host already has. Several relay replicas can share
// one database: every rule of package store holds across processes.
//
//	if err := pgstore.Migrate(ctx, pool); err != nil { // once at start-up
//		return err
//	}
//	st, err := pgstore.New(pool)
//
// The package also gives every replica on one database a shared Intercom
// budget ([NewLimiter]: one statement per admission, on the database's
// clock), and wakes idle workers when a job is enqueued ([Store.Wake]:
// LISTEN/NOTIFY, fed by a trigger of migration 0006).
//
// # Schema and migrations
//
// All tables live in one schema, "smsrelay" by default ([WithSchema] picks
// another; give [Migrate] and [New] the same options). [Migrate] creates the
// schema when it is missing and applies the versioned SQL migrations
// embedded in the package, recording each in the schema_migrations table.
// It runs in one transaction under an advisory lock (pg_advisory_xact_lock),
// so every replica may call it at start-up: the first applies what is
// missing, the others wait and find nothing to do. Migrations only go
// forward. Migrate refuses a schema that a newer version of the package
// migrated (it has migrations this version does not know), with an error
// wrapping [ErrSchemaVersion], rather than run against tables it may
// misread.
//
// New does no I/O. A host that runs its migrations elsewhere can call
// [Store.Check] at start-up: it fails, wrapping [ErrSchemaVersion] and
// naming the step to take, when the schema lacks migrations this version
// needs (run Migrate) or has ones it does not know. A Store used before
// Migrate fails with "relation does not exist".
//
// During a rolling upgrade, replicas of the previous release may keep
// running after Migrate. Replicas of a release from before job due times
// (migration 0002) do not keep them. A lease such a replica grants or
// extends leaves its key's due time behind the lease; the next Claim that
// meets it finds nothing and sets it right. A lease such a replica ends
// (Complete, Retry, DeadLetter) would leave the key's due time at the end
// of that lease, so that the key's next job waited for it; a trigger
// (migration 0003) makes the key due at once instead. Either way a key
// costs one empty Claim at most, never a wait for a lease.
//
// Migration 0004 adds the columns of [store.Thread].StateAt and
// [store.Message].Started, and rewrites every message that earlier releases
// recorded with the status "received:started-conversation" to the status
// "received" with started set. Replicas of an earlier release that still
// run write that old status for new messages; this release reads it as
// the migration rewrote it. They also leave a thread's state_at as it was
// when they change its state (Thread then returns the earlier StateAt, or
// zero), and a message's started as it was when they replace it. An
// earlier replica that reads a rewritten message back, which it does only
// when it retries the job of a customer's text that started a conversation
// and had reached Intercom before Migrate ran, takes it for a text that
// did not start one and leaves that conversation unrouted. Finish the
// rollout promptly.
//
// # What is durable
//
// Everything the store keeps is in ordinary, WAL-logged tables and survives
// restarts: contacts, threads and their conversation mappings, sent messages
// and their statuses, markers, opt-outs, seen keys, jobs and dead
// letters. A call returns only after its transaction committed. Enqueue
// writes the job, its ordering key and its de-duplication key in one
// statement, so either all are recorded or none is. [Store.EnqueueTx] does
// the same inside the host's own transaction; the job's key row stays locked
// until that transaction ends, so keep it short. Run that transaction at
// PostgreSQL's default isolation level, READ COMMITTED: at REPEATABLE READ
// or SERIALIZABLE, EnqueueTx fails with a serialization failure (SQLSTATE
// 40001) whenever a worker changed the key's row since the transaction
// began, which on a busy key is most of the time.
//
// Markers ([Store.Mark], in the relayed_parts table, named for the first
// facts they recorded), contacts, threads and messages are kept until
// deleted; prune old rows yourself if their number matters to you, keeping
// markers longer than any job that may still consult them, for example
// DELETE FROM smsrelay.relayed_parts WHERE relayed_at < now() - interval '90 days'.
//
// # Clock, leases and ordering
//
// Every time comparison uses the database's clock (now()), never the
// replica's, so replicas with skewed clocks agree on when a lease lapses,
// when a retried job may run again and when a seen key expires. Durations
// are stored to the microsecond, rounded up.
//
// Jobs live in the jobs table; each key with live (not dead) jobs has a
// row in job_keys, which records when the key's head job (its oldest live
// job) may next be claimed: its run time while it waits, its lease expiry
// while it is leased. Every call that changes a key's head updates that
// due time while holding the key row's lock, and Claim is one statement:
// it takes the key row that has been due longest (FOR UPDATE SKIP LOCKED,
// along an index on the due time), locks the key's head job, leases it if
// it is ready with its run time reached or leased with its lease lapsed,
// and stamps the new lease on the key row. The cost of a Claim therefore
// does not grow with the number of waiting jobs, however many wait behind
// a leased or delayed head. Two claimers can never hold two jobs of one
// key: a claimer that reaches the key row after another committed a lease
// on it re-reads the row, finds it no longer due and moves on. Nor can a
// claimer run a key's jobs out of order: holding the key row, it re-checks
// the head job it locks, and passes over one that finished or was
// dead-lettered and replayed (behind the key's waiting jobs) since its
// statement began. Under
// contention a Claim may now and then report [store.ErrNoJob] although a
// job became runnable a moment earlier; the next Claim finds it.
//
// Every statement that changes a job locks its key row before the job row,
// so Claim, Complete, Retry, Extend, DeadLetter and Replay never deadlock
// one another. Enqueue draws the job's position only once it holds the key
// row's lock, so the jobs of one key become visible in the order they were
// enqueued. Each claim gets a new random lease token; Complete, Retry,
// Extend and DeadLetter succeed only with the current token, and otherwise
// return [store.ErrLeaseLost]. A job whose lease lapsed keeps its token
// until someone claims it again. Leases, delays and TTLs may be as long as
// a time.Duration allows (about 292 years).
//
// # Seen keys
//
// MarkSeen and Enqueue's DedupeKey share the seen_keys table. An expired key
// counts as unseen at once; the rows themselves are deleted by a sweep that
// a Store runs at most once per [WithSweepInterval] (default one minute)
// from inside MarkSeen or Claim, so no cron job is needed. Hosts that prefer
// one may call [Store.SweepExpired] themselves.
//
// # Operator queries
//
// Dead letters stay in the jobs table with state 'dead'; [Store.DeadLetters],
// [Store.Replay] and [Store.DiscardDeadLetter] manage them, and psql can read
// them directly (payload is the job's bytes, often JSON):
//
//	SELECT id, kind, key, attempt, last_error, created_at, dead_at,
//	       convert_from(payload, 'UTF8') AS payload
//	FROM smsrelay.jobs
//	WHERE state = 'dead'
//	ORDER BY dead_at;
//
// The queue at a glance, and the jobs that wait longest:
//
//	SELECT count(*) FILTER (WHERE state = 'ready')  AS ready,
//	       count(*) FILTER (WHERE state = 'leased') AS leased,
//	       count(*) FILTER (WHERE state = 'dead')   AS dead
//	FROM smsrelay.jobs;
//
//	SELECT id, kind, key, state, attempt, run_at, lease_until, last_error
//	FROM smsrelay.jobs
//	WHERE state <> 'dead'
//	ORDER BY seq
//	LIMIT 20;
//
// Replace smsrelay with your schema if you chose another.
package pgstore
