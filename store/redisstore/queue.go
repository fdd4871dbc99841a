package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/store"
)

// requestMemory is how long a script remembers the outcome of a request
// (see scripts.go), so that a command go-redis sends again after a lost
// reply finds it. go-redis gives up after MaxRetries (default 3) further
// attempts, each bounded by its read and write timeouts (default 3 s) plus
// a back-off under a second, so a few minutes cover any sane configuration.
const requestMemory = 5 * time.Minute

// eval runs a queue script with the shared keys and ARGV prefix, request
// id and requestMemory in milliseconds, followed by args. req must be
// unique to the call (newToken), and the same for every attempt of it.
func (s *Store) eval(ctx context.Context, sc *redis.Script, req string, args ...any) *redis.Cmd {
	return sc.Run(ctx, s.rdb, s.queueKeys, append([]any{s.base, req, requestMemory.Milliseconds()}, args...)...)
}

// micros converts d to whole microseconds, at least 1 when d is positive.
func micros(d time.Duration) int64 {
	us := d.Microseconds()
	if d > 0 && us == 0 {
		us = 1
	}
	return us
}

// newToken returns a random 128-bit hex string: job ids, lease tokens and
// request ids.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24).
	return hex.EncodeToString(b[:])
}

// payloadBytes returns nil for an empty payload, so that a job enqueued
// without a payload comes back without one.
func payloadBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// Enqueue inserts a ready job at the back of its key's list and returns it.
// With a DedupeKey, recording the key (SET NX PX on the Redis clock) and
// inserting the job happen in one script; a key already recorded gives
// store.ErrDuplicate and inserts nothing. The job id is chosen here, so a
// command the client sends again after a lost reply returns the job the
// first attempt inserted instead of inserting a second one.
func (s *Store) Enqueue(ctx context.Context, j store.NewJob) (store.Job, error) {
	if err := check(ctx, "enqueue", j.Validate()); err != nil {
		return store.Job{}, err
	}
	var ttl int64
	if j.DedupeKey != "" {
		ttl = ceilMillis(j.DedupeTTL).Milliseconds()
	}
	res, err := s.eval(ctx, s.enqueue, newToken(), j.Kind, j.Key, j.Payload, j.DedupeKey, ttl).Slice()
	if err != nil {
		return store.Job{}, wrap("enqueue", err)
	}
	r := reply(res)
	if r.int(0) == 0 {
		if r.err != nil {
			return store.Job{}, fmt.Errorf("redisstore: enqueue: %w", r.err)
		}
		return store.Job{}, fmt.Errorf("redisstore: enqueue %q: %w", j.DedupeKey, store.ErrDuplicate)
	}
	job := store.Job{
		ID:        r.str(1),
		Kind:      j.Kind,
		Key:       j.Key,
		Payload:   j.Payload,
		State:     store.JobReady,
		CreatedAt: time.UnixMicro(r.int(2)),
	}
	if r.err != nil {
		return store.Job{}, fmt.Errorf("redisstore: enqueue: %w", r.err)
	}
	s.publishReady(ctx)
	return job, nil
}

// Claim leases, for lease, the job whose run time is earliest among the
// heads of the keys that have no job leased and the jobs whose lease ran
// out. Only the job it hands out changes hands: the holders of other lapsed
// leases may still finish them. It returns store.ErrNoJob when no job is
// ready. A command the client sends again after a lost reply returns the
// job the first attempt leased.
func (s *Store) Claim(ctx context.Context, lease time.Duration) (store.Job, error) {
	if err := check(ctx, "claim", store.ValidateLease(lease)); err != nil {
		return store.Job{}, err
	}
	token := newToken()
	res, err := s.eval(ctx, s.claim, token, micros(lease)).Slice()
	if err != nil {
		return store.Job{}, wrap("claim", err)
	}
	r := reply(res)
	if r.int(0) == 0 {
		if r.err != nil {
			return store.Job{}, fmt.Errorf("redisstore: claim: %w", r.err)
		}
		return store.Job{}, store.ErrNoJob
	}
	job := store.Job{
		ID:        r.str(2),
		Kind:      r.str(3),
		Key:       r.str(4),
		Payload:   payloadBytes(r.str(5)),
		State:     store.JobLeased,
		LastError: r.str(6),
		CreatedAt: time.UnixMicro(r.int(7)),
		Attempt:   int(r.int(8)),
		Lease:     token,
	}
	if r.err != nil {
		return store.Job{}, fmt.Errorf("redisstore: claim: %w", r.err)
	}
	if r.int(1) == 1 {
		s.log.LogAttrs(ctx, slog.LevelWarn, "redisstore: lease ran out; job claimed again",
			slog.String("job", job.ID), slog.String("key", job.Key), slog.Int("attempt", job.Attempt))
	}
	return job, nil
}

// leaseResult turns the 1/0 answer of a lease script into an error.
func leaseResult(op string, j store.Job, n int64, err error) error {
	if err != nil {
		return wrap(op, err)
	}
	if n != 1 {
		return fmt.Errorf("redisstore: %s job %s: %w", op, j.ID, store.ErrLeaseLost)
	}
	return nil
}

// Extend pushes the lease of j out to lease from now (Redis time). A lease
// that ran out but was not yet taken back by a Claim can still be extended.
func (s *Store) Extend(ctx context.Context, j store.Job, lease time.Duration) error {
	if err := check(ctx, "extend", store.ValidateHeld(j), store.ValidateLease(lease)); err != nil {
		return err
	}
	n, err := s.eval(ctx, s.extend, newToken(), j.ID, j.Lease, micros(lease)).Int64()
	return leaseResult("extend", j, n, err)
}

// Complete removes j from the queue and lets the next job of its key run.
func (s *Store) Complete(ctx context.Context, j store.Job) error {
	if err := check(ctx, "complete", store.ValidateHeld(j)); err != nil {
		return err
	}
	n, err := s.eval(ctx, s.complete, newToken(), j.ID, j.Lease).Int64()
	return leaseResult("complete", j, n, err)
}

// Retry puts j back at the head of its key, ready to run after delay,
// recording reason.
func (s *Store) Retry(ctx context.Context, j store.Job, delay time.Duration, reason string) error {
	if err := check(ctx, "retry", store.ValidateHeld(j), store.ValidateDelay(delay)); err != nil {
		return err
	}
	n, err := s.eval(ctx, s.retry, newToken(), j.ID, j.Lease, micros(delay), reason).Int64()
	return leaseResult("retry", j, n, err)
}

// DeadLetter moves j to the dead letters with reason and lets the next job
// of its key run.
func (s *Store) DeadLetter(ctx context.Context, j store.Job, reason string) error {
	if err := check(ctx, "dead letter", store.ValidateHeld(j)); err != nil {
		return err
	}
	n, err := s.eval(ctx, s.deadLetter, newToken(), j.ID, j.Lease, reason).Int64()
	return leaseResult("dead letter", j, n, err)
}

// DeadLetters lists up to limit dead letters, oldest first.
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]store.Job, error) {
	if err := check(ctx, "dead letters", store.ValidateLimit(limit)); err != nil {
		return nil, err
	}
	res, err := s.deadLetters.Run(ctx, s.rdb, []string{s.key("dead")}, s.base, limit).Slice()
	if err != nil {
		return nil, wrap("dead letters", err)
	}
	const fields = 7
	if len(res)%fields != 0 {
		return nil, fmt.Errorf("redisstore: dead letters: script reply has %d elements, not a multiple of %d", len(res), fields)
	}
	r := reply(res)
	jobs := make([]store.Job, 0, len(res)/fields)
	for i := 0; i < len(res); i += fields {
		jobs = append(jobs, store.Job{
			ID:        r.str(i),
			Kind:      r.str(i + 1),
			Key:       r.str(i + 2),
			Payload:   payloadBytes(r.str(i + 3)),
			State:     store.JobDead,
			Attempt:   int(r.int(i + 4)),
			LastError: r.str(i + 5),
			CreatedAt: time.UnixMicro(r.int(i + 6)),
		})
	}
	if r.err != nil {
		return nil, fmt.Errorf("redisstore: dead letters: %w", r.err)
	}
	return jobs, nil
}

// Replay puts dead letter id back at the back of its key's list, ready now,
// with Attempt reset to 0; it keeps its id and its LastError. It returns
// store.ErrNotFound when there is no such dead letter.
func (s *Store) Replay(ctx context.Context, id string) error {
	if err := check(ctx, "replay", store.ValidateNonEmpty("job id", id)); err != nil {
		return err
	}
	n, err := s.eval(ctx, s.replay, newToken(), id).Int64()
	if err != nil {
		return wrap("replay", err)
	}
	if n != 1 {
		return fmt.Errorf("redisstore: replay dead letter %s: %w", id, store.ErrNotFound)
	}
	s.publishReady(ctx)
	return nil
}

// DiscardDeadLetter deletes dead letter id for good, or returns
// store.ErrNotFound.
func (s *Store) DiscardDeadLetter(ctx context.Context, id string) error {
	if err := check(ctx, "discard dead letter", store.ValidateNonEmpty("job id", id)); err != nil {
		return err
	}
	n, err := s.eval(ctx, s.discard, newToken(), id).Int64()
	if err != nil {
		return wrap("discard dead letter", err)
	}
	if n != 1 {
		return fmt.Errorf("redisstore: discard dead letter %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// Stats counts the jobs in the queue. It only reads: a job whose lease ran
// out counts as leased until a Claim hands it out again, and its holder may
// still finish it until then.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	if err := check(ctx, "stats"); err != nil {
		return store.Stats{}, err
	}
	var pending, leased, dead *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		pending = p.SCard(ctx, s.key("pending"))
		leased = p.ZCard(ctx, s.key("leased"))
		dead = p.ZCard(ctx, s.key("dead"))
		return nil
	})
	if err != nil {
		return store.Stats{}, wrap("stats", err)
	}
	return store.Stats{
		Ready:  int(pending.Val() - leased.Val()),
		Leased: int(leased.Val()),
		Dead:   int(dead.Val()),
	}, nil
}
