package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smsrelay/smsrelay/store"
)

// Querier is what [Store.EnqueueTx] runs its statement on: a pgx.Tx, a
// *pgx.Conn or a *pgxpool.Pool.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Enqueue implements [store.Queue]. The job, its ordering key and its
// de-duplication key are written by one statement.
func (s *Store) Enqueue(ctx context.Context, j store.NewJob) (store.Job, error) {
	return s.enqueue(ctx, s.pool, "enqueue", j)
}

// EnqueueTx is Enqueue inside the host's own transaction (or on any
// [Querier]): the job becomes visible, and its de-duplication key recorded,
// only if tx commits. Use it to enqueue work atomically with the host's own
// writes to the same database. Keep tx short: the job's key row stays
// locked until tx ends, which holds up Claim, Complete and Enqueue for that
// key, and the job's CreatedAt and DedupeTTL count from tx's start (now()).
// Run tx at the READ COMMITTED isolation level (PostgreSQL's default): at a
// higher level the statement fails with a serialization failure whenever
// the key's row changed since tx began.
func (s *Store) EnqueueTx(ctx context.Context, tx Querier, j store.NewJob) (store.Job, error) {
	if tx == nil {
		return store.Job{}, errors.New("pgstore: enqueue tx: nil querier")
	}
	return s.enqueue(ctx, tx, "enqueue tx", j)
}

func (s *Store) enqueue(ctx context.Context, db Querier, op string, j store.NewJob) (store.Job, error) {
	if err := check(ctx, op, j.Validate()); err != nil {
		return store.Job{}, err
	}
	payload := j.Payload
	if payload == nil {
		payload = []byte{}
	}
	job, err := scanJob(db.QueryRow(ctx, s.q.enqueue, j.Kind, j.Key, payload, j.DedupeKey, micros(j.DedupeTTL)))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Job{}, fmt.Errorf("pgstore: %s: dedupe key %q: %w", op, j.DedupeKey, store.ErrDuplicate)
	}
	if err != nil {
		return store.Job{}, wrap(op, err)
	}
	return job, nil
}

// Claim implements [store.Queue] with one statement that takes the key that
// has been due longest (FOR UPDATE SKIP LOCKED) and leases its head job;
// see the package documentation for how it keeps the jobs of one key
// apart. The lease is measured with the database clock and rounded up to
// whole microseconds.
func (s *Store) Claim(ctx context.Context, lease time.Duration) (store.Job, error) {
	if err := check(ctx, "claim", store.ValidateLease(lease)); err != nil {
		return store.Job{}, err
	}
	s.maybeSweep(ctx)
	token, err := newToken()
	if err != nil {
		return store.Job{}, fmt.Errorf("pgstore: claim: %w", err)
	}
	job, err := scanJob(s.pool.QueryRow(ctx, s.q.claim, token, micros(lease)))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Job{}, fmt.Errorf("pgstore: claim: %w", store.ErrNoJob)
	}
	if err != nil {
		return store.Job{}, wrap("claim", err)
	}
	return job, nil
}

// Extend implements [store.Queue].
func (s *Store) Extend(ctx context.Context, j store.Job, lease time.Duration) error {
	return s.changeLeased(ctx, "extend", j, store.ValidateLease(lease), s.q.extend, false, micros(lease))
}

// Complete implements [store.Queue].
func (s *Store) Complete(ctx context.Context, j store.Job) error {
	return s.changeLeased(ctx, "complete", j, nil, s.q.complete, true)
}

// Retry implements [store.Queue]. The delay is measured with the database
// clock.
func (s *Store) Retry(ctx context.Context, j store.Job, delay time.Duration, reason string) error {
	return s.changeLeased(ctx, "retry", j, store.ValidateDelay(delay), s.q.retry, false, micros(delay), reason)
}

// DeadLetter implements [store.Queue]. The job stays in the jobs table with
// state 'dead' (see the package documentation for operator queries).
func (s *Store) DeadLetter(ctx context.Context, j store.Job, reason string) error {
	return s.changeLeased(ctx, "dead letter", j, nil, s.q.deadLetter, true, reason)
}

// changeLeased runs sql, which changes the leased job j and its key row and
// returns a row when j's lease token matched. It sends, in one round trip
// and one implicit transaction (a pgx batch), a statement that first locks
// j's key row (the lock order Claim uses, so the two never deadlock), then
// sql, then, when dropKey is set, one that deletes the key row if the key
// has no live job left. When the token does not match, sql and the
// clean-up change nothing. sql's first three parameters are the job's id,
// key and lease token; extra follow. argErr is the verdict on the call's
// other arguments, checked with j before anything is sent.
func (s *Store) changeLeased(ctx context.Context, op string, j store.Job, argErr error, sql string, dropKey bool, extra ...any) error {
	if err := check(ctx, op, store.ValidateHeld(j), argErr); err != nil {
		return err
	}
	id, err := strconv.ParseInt(j.ID, 10, 64)
	if err != nil {
		// Not an id this store hands out, so not a lease it holds.
		return fmt.Errorf("pgstore: %s: job %q: %w", op, j.ID, store.ErrLeaseLost)
	}
	b := &pgx.Batch{}
	b.Queue(s.q.lockKey, j.Key)
	b.Queue(sql, append([]any{id, j.Key, j.Lease}, extra...)...)
	if dropKey {
		b.Queue(s.q.dropKey, j.Key)
	}
	res := s.pool.SendBatch(ctx, b)
	changed := false
	for i := range b.Len() {
		tag, err := res.Exec()
		if err != nil {
			res.Close()
			return fmt.Errorf("pgstore: %s: %w", op, err)
		}
		if i == 1 {
			changed = tag.RowsAffected() > 0
		}
	}
	if err := res.Close(); err != nil {
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	if !changed {
		return fmt.Errorf("pgstore: %s: job %s: %w", op, j.ID, store.ErrLeaseLost)
	}
	return nil
}

// DeadLetters implements [store.Queue]: dead letters in the order they
// died, oldest first.
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]store.Job, error) {
	if err := check(ctx, "dead letters", store.ValidateLimit(limit)); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.q.deadLetters, limit)
	if err != nil {
		return nil, wrap("dead letters", err)
	}
	defer rows.Close()
	var jobs []store.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, wrap("dead letters", err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("dead letters", err)
	}
	return jobs, nil
}

// Replay implements [store.Queue]. The job keeps its id and its last error;
// it moves behind the waiting jobs of its key, with Attempt 0.
//
// Replay runs one short transaction: it reads the dead letter's key without
// a lock, then locks the key's row and only then the job's, the order Claim
// and the lease changes use, so that Replay never deadlocks with them.
func (s *Store) Replay(ctx context.Context, id string) error {
	const op = "replay"
	n, err := deadLetterID(ctx, op, id)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var key string
		if err := tx.QueryRow(ctx, s.q.deadLetterKey, n).Scan(&key); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, s.q.replay, n, key)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			// Replayed or discarded since its key was read: roll back the
			// change to the key row.
			return pgx.ErrNoRows
		}
		return nil
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("pgstore: %s: dead letter %s: %w", op, id, store.ErrNotFound)
	default:
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
}

// DiscardDeadLetter implements [store.Queue].
func (s *Store) DiscardDeadLetter(ctx context.Context, id string) error {
	const op = "discard dead letter"
	n, err := deadLetterID(ctx, op, id)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, s.q.discard, n)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: %s: dead letter %s: %w", op, id, store.ErrNotFound)
	}
	return nil
}

// deadLetterID checks the arguments of a dead-letter operation and parses
// the job id. An id this store could not have handed out names no dead
// letter: store.ErrNotFound.
func deadLetterID(ctx context.Context, op, id string) (int64, error) {
	if err := check(ctx, op, store.ValidateNonEmpty("job id", id)); err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("pgstore: %s: dead letter %q: %w", op, id, store.ErrNotFound)
	}
	return n, nil
}

// Stats implements [store.Queue]. Leased counts jobs whose lease has expired
// but which no one has claimed again yet.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	if err := check(ctx, "stats"); err != nil {
		return store.Stats{}, err
	}
	var st store.Stats
	if err := s.pool.QueryRow(ctx, s.q.stats).Scan(&st.Ready, &st.Leased, &st.Dead); err != nil {
		return store.Stats{}, wrap("stats", err)
	}
	return st, nil
}

// scanJob reads the columns id, kind, key, payload, state, attempt,
// lease_token, last_error, created_at.
func scanJob(row pgx.Row) (store.Job, error) {
	var (
		j     store.Job
		id    int64
		state string
	)
	if err := row.Scan(&id, &j.Kind, &j.Key, &j.Payload, &state, &j.Attempt, &j.Lease, &j.LastError, &j.CreatedAt); err != nil {
		return store.Job{}, err
	}
	j.ID = strconv.FormatInt(id, 10)
	j.State = store.JobState(state)
	return j, nil
}

// newToken returns a random lease token.
func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lease token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
