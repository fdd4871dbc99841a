package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsrelay/smsrelay/store"
)

// DefaultSchema is the schema the store's tables live in when [WithSchema]
// is not given.
const DefaultSchema = "smsrelay"

// DefaultSweepInterval is how often, at most, a Store deletes expired seen
// keys when [WithSweepInterval] is not given.
const DefaultSweepInterval = time.Minute

// sweepBatch is how many expired seen keys one sweep statement deletes;
// sweepMaxBatches bounds the statements of one sweep.
const (
	sweepBatch      = 5000
	sweepMaxBatches = 10
)

// Compile-time checks that *Store implements both contracts.
var (
	_ store.Store = (*Store)(nil)
	_ store.Queue = (*Store)(nil)
)

// Store is a [store.Store] and [store.Queue] kept in PostgreSQL. It is safe
// for concurrent use by many goroutines and by many processes sharing one
// database. Create it with [New] after running [Migrate].
type Store struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	schema string
	q      *queries

	sweepEvery time.Duration
	nextSweep  atomic.Int64 // local unix nanoseconds; paces sweeps only
}

// Option configures [New] and [Migrate]. Options are applied in order; the
// last one of a kind wins.
type Option func(*config) error

type config struct {
	schema     string
	log        *slog.Logger
	sweepEvery time.Duration
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		schema:     DefaultSchema,
		log:        slog.New(slog.DiscardHandler),
		sweepEvery: DefaultSweepInterval,
	}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("pgstore: option %d is nil", i)
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// WithSchema sets the PostgreSQL schema holding the store's tables (default
// [DefaultSchema]). The name must be 1 to 63 characters of a-z, 0-9 and _,
// must not start with a digit, and must not start with "pg_". Give [Migrate]
// and [New] the same schema. Relay deployments sharing a database each use
// their own schema.
func WithSchema(name string) Option {
	return func(c *config) error {
		if err := validateSchema(name); err != nil {
			return err
		}
		c.schema = name
		return nil
	}
}

// WithLogger sets the logger the store reports to: migrations applied,
// expired seen keys swept, sweep failures. Nil restores the default, which
// discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		c.log = l
		return nil
	}
}

// WithSweepInterval sets how often, at most, a Store deletes expired seen
// keys (default [DefaultSweepInterval]). The sweep runs inside a call to
// MarkSeen or Claim, at most once per interval per Store. d must be positive.
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("pgstore: sweep interval %v is not positive", d)
		}
		c.sweepEvery = d
		return nil
	}
}

// New returns a Store that keeps its records in pool, which the host owns
// and closes. New does no I/O: run [Migrate] (with the same schema option)
// before using the Store, or its calls fail with "relation does not exist";
// [Store.Check] tells whether the schema is ready.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: nil pool")
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	q, err := loadQueries(c.schema)
	if err != nil {
		return nil, err
	}
	s := &Store{pool: pool, log: c.log, schema: c.schema, q: q, sweepEvery: c.sweepEvery}
	s.nextSweep.Store(time.Now().UnixNano())
	return s, nil
}

// Schema returns the schema the store's tables live in.
func (s *Store) Schema() string { return s.schema }

// micros converts a positive duration into whole microseconds (PostgreSQL's
// resolution), rounding up so that a tiny positive duration stays positive.
// It cannot overflow: the longest duration, about 292 years, is about 9.2e15
// microseconds, which PostgreSQL adds to now() without trouble.
func micros(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	us := int64(d / time.Microsecond)
	if d%time.Microsecond != 0 {
		us++
	}
	return us
}

// nullTime returns nil for the zero time, which the store keeps as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// legacyStartedStatus is how releases before store.Message.Started
// recorded a customer's text that started its conversation.
const legacyStartedStatus = "received:started-conversation"

// readLegacy returns m as this release records it: a message with the
// status of releases before store.Message.Started (which replicas of such a
// release may still write during a rolling upgrade) comes back with the
// status "received" and Started set.
func readLegacy(m store.Message) store.Message {
	if m.Status == legacyStartedStatus {
		m.Status, m.Started = "received", true
	}
	return m
}

// Contact implements [store.Store].
func (s *Store) Contact(ctx context.Context, phone string) (string, error) {
	if err := check(ctx, "contact", store.ValidateNonEmpty("phone", phone)); err != nil {
		return "", err
	}
	var id string
	err := s.pool.QueryRow(ctx, s.q.contact, phone).Scan(&id)
	if err != nil {
		return "", wrap("contact", err)
	}
	return id, nil
}

// SetContact implements [store.Store].
func (s *Store) SetContact(ctx context.Context, phone, contactID string) error {
	if err := check(ctx, "set contact", store.ValidateNonEmpty("phone", phone), store.ValidateNonEmpty("contact id", contactID)); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, s.q.setContact, phone, contactID)
	return wrap("set contact", err)
}

// DeleteContact implements [store.Store].
func (s *Store) DeleteContact(ctx context.Context, phone string) error {
	if err := check(ctx, "delete contact", store.ValidateNonEmpty("phone", phone)); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, s.q.deleteContact, phone)
	return wrap("delete contact", err)
}

// Thread implements [store.Store].
func (s *Store) Thread(ctx context.Context, key store.ThreadKey) (store.Thread, error) {
	if err := check(ctx, "thread", key.Validate()); err != nil {
		return store.Thread{}, err
	}
	t := store.Thread{Key: key}
	var state string
	var stateAt, last *time.Time
	err := s.pool.QueryRow(ctx, s.q.thread, key.Customer, key.Sender).
		Scan(&t.ContactID, &t.ConversationID, &state, &stateAt, &last)
	if err != nil {
		return store.Thread{}, wrap("thread", err)
	}
	t.State = store.ConversationState(state)
	if stateAt != nil {
		t.StateAt = *stateAt
	}
	if last != nil {
		t.LastInbound = *last
	}
	return t, nil
}

// PutThread implements [store.Store].
func (s *Store) PutThread(ctx context.Context, t store.Thread) error {
	if err := check(ctx, "put thread", t.Validate()); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, s.q.putThread,
		t.Key.Customer, t.Key.Sender, t.ContactID, t.ConversationID, string(t.State),
		nullTime(t.StateAt), nullTime(t.LastInbound))
	return wrap("put thread", err)
}

// DeleteThread implements [store.Store].
func (s *Store) DeleteThread(ctx context.Context, key store.ThreadKey) error {
	if err := check(ctx, "delete thread", key.Validate()); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, s.q.deleteThread, key.Customer, key.Sender)
	return wrap("delete thread", err)
}

// ThreadByConversation implements [store.Store].
func (s *Store) ThreadByConversation(ctx context.Context, conversationID string) (store.ThreadKey, error) {
	if err := check(ctx, "thread by conversation", store.ValidateNonEmpty("conversation id", conversationID)); err != nil {
		return store.ThreadKey{}, err
	}
	var k store.ThreadKey
	err := s.pool.QueryRow(ctx, s.q.threadByConversation, conversationID).Scan(&k.Customer, &k.Sender)
	if err != nil {
		return store.ThreadKey{}, wrap("thread by conversation", err)
	}
	return k, nil
}

// PutMessage implements [store.Store].
func (s *Store) PutMessage(ctx context.Context, m store.Message) error {
	if err := check(ctx, "put message", m.Validate()); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, s.q.putMessage, m.SID, m.ConversationID, m.PartID,
		m.Thread.Customer, m.Thread.Sender, m.Status, store.StatusRank(m.Status), m.ErrorCode, m.Started)
	return wrap("put message", err)
}

// Message implements [store.Store].
func (s *Store) Message(ctx context.Context, sid string) (store.Message, error) {
	if err := check(ctx, "message", store.ValidateNonEmpty("SID", sid)); err != nil {
		return store.Message{}, err
	}
	var m store.Message
	err := s.pool.QueryRow(ctx, s.q.message, sid).Scan(&m.SID, &m.ConversationID, &m.PartID,
		&m.Thread.Customer, &m.Thread.Sender, &m.Status, &m.ErrorCode, &m.Started)
	if err != nil {
		return store.Message{}, wrap("message", err)
	}
	return readLegacy(m), nil
}

// AdvanceMessageStatus implements [store.Store]. The comparison of ranks and
// the update happen in one statement under the message's row lock.
func (s *Store) AdvanceMessageStatus(ctx context.Context, sid, status string, errorCode int) (store.Message, bool, error) {
	if err := check(ctx, "advance message status", store.ValidateNonEmpty("SID", sid), store.ValidateNonEmpty("status", status)); err != nil {
		return store.Message{}, false, err
	}
	var m store.Message
	var changed bool
	err := s.pool.QueryRow(ctx, s.q.advanceMessageStatus, sid, status, store.StatusRank(status), errorCode).
		Scan(&m.SID, &m.ConversationID, &m.PartID, &m.Thread.Customer, &m.Thread.Sender,
			&m.Status, &m.ErrorCode, &m.Started, &changed)
	if err != nil {
		return store.Message{}, false, wrap("advance message status", err)
	}
	return readLegacy(m), changed, nil
}

// Marked implements [store.Store].
func (s *Store) Marked(ctx context.Context, marker string) (bool, error) {
	if err := check(ctx, "marked", store.ValidateNonEmpty("marker", marker)); err != nil {
		return false, err
	}
	var ok bool
	if err := s.pool.QueryRow(ctx, s.q.marked, marker).Scan(&ok); err != nil {
		return false, wrap("marked", err)
	}
	return ok, nil
}

// Mark implements [store.Store]. Markers are kept, in the relayed_parts
// table, until an operator deletes them (see the package documentation).
func (s *Store) Mark(ctx context.Context, marker string) error {
	if err := check(ctx, "mark", store.ValidateNonEmpty("marker", marker)); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, s.q.mark, marker)
	return wrap("mark", err)
}

// SetOptedOut implements [store.Store].
func (s *Store) SetOptedOut(ctx context.Context, key store.ThreadKey, optedOut bool) error {
	if err := check(ctx, "set opted out", key.Validate()); err != nil {
		return err
	}
	sql := s.q.clearOptedOut
	if optedOut {
		sql = s.q.setOptedOut
	}
	_, err := s.pool.Exec(ctx, sql, key.Customer, key.Sender)
	return wrap("set opted out", err)
}

// OptedOut implements [store.Store].
func (s *Store) OptedOut(ctx context.Context, key store.ThreadKey) (bool, error) {
	if err := check(ctx, "opted out", key.Validate()); err != nil {
		return false, err
	}
	var ok bool
	if err := s.pool.QueryRow(ctx, s.q.optedOut, key.Customer, key.Sender).Scan(&ok); err != nil {
		return false, wrap("opted out", err)
	}
	return ok, nil
}

// MarkSeen implements [store.Store]. The TTL is measured with the database
// clock and rounded up to whole microseconds. Expired keys are deleted by an
// occasional sweep (see [WithSweepInterval] and [Store.SweepExpired]).
func (s *Store) MarkSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := check(ctx, "mark seen", store.ValidateNonEmpty("seen key", key), store.ValidateTTL(ttl)); err != nil {
		return false, err
	}
	s.maybeSweep(ctx)
	var isNew bool
	err := s.pool.QueryRow(ctx, s.q.markSeen, key, micros(ttl)).Scan(&isNew)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, wrap("mark seen", err)
	}
	return isNew, nil
}

// SweepExpired deletes expired seen keys (de-duplication keys whose TTL has
// run out by the database clock) and returns how many it deleted. Stores
// call it on their own now and then (see [WithSweepInterval]); a host may
// also call it from a job of its own. Each call deletes at most 50,000 rows.
func (s *Store) SweepExpired(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("pgstore: sweep expired: %w", err)
	}
	var total int64
	for range sweepMaxBatches {
		tag, err := s.pool.Exec(ctx, s.q.sweepSeen, sweepBatch)
		if err != nil {
			return total, wrap("sweep expired", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < sweepBatch {
			break
		}
	}
	return total, nil
}

// maybeSweep runs SweepExpired if the sweep interval has passed since the
// last sweep of this Store. Only one caller wins each interval; failures are
// logged, not returned, because the sweep is housekeeping.
func (s *Store) maybeSweep(ctx context.Context) {
	now := time.Now().UnixNano()
	next := s.nextSweep.Load()
	if now < next || !s.nextSweep.CompareAndSwap(next, now+int64(s.sweepEvery)) {
		return
	}
	n, err := s.SweepExpired(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.WarnContext(ctx, "pgstore: sweeping expired seen keys failed", "schema", s.schema, "error", err)
	case n > 0:
		s.log.DebugContext(ctx, "pgstore: swept expired seen keys", "schema", s.schema, "deleted", n)
	}
}

// check returns an error naming op when ctx has ended, or else the first
// of errs, the verdicts of the rules of package store on a call's
// arguments, that is not nil; nil when the call may go ahead.
func check(ctx context.Context, op string, errs ...error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("pgstore: %s: %w", op, err)
		}
	}
	return nil
}

// wrap adds the operation to err, mapping pgx.ErrNoRows to
// store.ErrNotFound. It returns nil for a nil err.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("pgstore: %s: %w", op, store.ErrNotFound)
	default:
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
}
