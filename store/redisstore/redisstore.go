package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/store"
)

// DefaultPrefix is the key prefix used when [WithPrefix] is not given.
const DefaultPrefix = "smsrelay"

// Compile-time checks that *Store implements both contracts.
var (
	_ store.Store = (*Store)(nil)
	_ store.Queue = (*Store)(nil)
)

// Store is a [store.Store] and [store.Queue] kept in Redis. It is safe for
// concurrent use by many goroutines and by many processes sharing one Redis
// deployment. Create it with [New].
type Store struct {
	rdb       redis.UniversalClient
	log       *slog.Logger
	base      string        // "{prefix}:"
	recordTTL time.Duration // 0: keep messages and markers forever

	// Keys every queue script receives, in this order (see scripts.go).
	queueKeys []string

	advance     *redis.Script
	markSeen    *redis.Script
	enqueue     *redis.Script
	claim       *redis.Script
	extend      *redis.Script
	complete    *redis.Script
	retry       *redis.Script
	deadLetter  *redis.Script
	deadLetters *redis.Script
	replay      *redis.Script
	discard     *redis.Script
}

// Option configures a [Store]. Options are applied in order; the last one of
// a kind wins.
type Option func(*config) error

type config struct {
	prefix    string
	log       *slog.Logger
	recordTTL time.Duration
}

// WithPrefix sets the prefix of every key the store uses (default
// [DefaultPrefix]). The store wraps it in braces, so that "smsrelay" gives
// keys named "{smsrelay}:…" that all hash to one Redis Cluster slot. The
// prefix must be non-empty and must not contain '{' or '}'. Give each relay
// deployment that shares a Redis its own prefix.
func WithPrefix(p string) Option {
	return func(c *config) error {
		switch {
		case p == "":
			return errors.New("redisstore: empty key prefix")
		case strings.ContainsAny(p, "{}"):
			return fmt.Errorf("redisstore: key prefix %q must not contain '{' or '}'", p)
		}
		c.prefix = p
		return nil
	}
}

// WithLogger sets the logger the store reports unusual events to (a job
// claimed again after its lease ran out). Nil restores the default, which
// discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.log = l
		return nil
	}
}

// WithRecordTTL makes the records that accumulate with traffic expire d
// after they were written: messages ([Store.PutMessage]) and markers
// ([Store.Mark]). The default, 0, keeps them forever, as the [store.Store]
// contract describes; a Redis with bounded memory wants a
// TTL comfortably longer than the time within which Twilio status callbacks
// and Intercom webhook redeliveries still arrive, such as 30 days. Contacts,
// threads, conversation mappings and opt-outs never expire. d must not be
// negative; TTLs are kept in whole milliseconds, rounded up.
func WithRecordTTL(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("redisstore: negative record TTL %v", d)
		}
		c.recordTTL = d
		return nil
	}
}

// New returns a Store that keeps its data in client under the configured
// prefix. client may be a *redis.Client, a *redis.ClusterClient, a Sentinel
// failover client or a *redis.Ring (see the package documentation for the
// Cluster trade-off). New does no I/O; the Lua scripts are loaded on first
// use. The caller keeps ownership of client and closes it.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil redis client")
	}
	cfg := config{prefix: DefaultPrefix}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("redisstore: option %d is nil", i)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	base := "{" + cfg.prefix + "}:"
	s := &Store{
		rdb:       client,
		log:       cfg.log,
		base:      base,
		recordTTL: cfg.recordTTL,
		queueKeys: []string{
			base + "clock", base + "runnable", base + "leased",
			base + "pending", base + "dead", base + "seq", base + "leasekeys",
		},
		advance:     redis.NewScript(advanceStatusLua),
		markSeen:    redis.NewScript(markSeenLua),
		enqueue:     redis.NewScript(queuePrelude + enqueueLua),
		claim:       redis.NewScript(queuePrelude + claimLua),
		extend:      redis.NewScript(queuePrelude + extendLua),
		complete:    redis.NewScript(queuePrelude + completeLua),
		retry:       redis.NewScript(queuePrelude + retryLua),
		deadLetter:  redis.NewScript(queuePrelude + deadLetterLua),
		deadLetters: redis.NewScript(deadLettersLua),
		replay:      redis.NewScript(queuePrelude + replayLua),
		discard:     redis.NewScript(queuePrelude + discardLua),
	}
	return s, nil
}

// Prefix returns the hash-tagged prefix of every key the store uses, such as
// "{smsrelay}:". Operators can match the store's keys with Prefix()+"*".
func (s *Store) Prefix() string { return s.base }

func (s *Store) key(parts ...string) string {
	return s.base + strings.Join(parts, ":")
}

// check returns an error naming op when ctx has ended, or else the first
// of errs, the verdicts of the rules of package store on a call's
// arguments, that is not nil; nil when the call may go ahead.
func check(ctx context.Context, op string, errs ...error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("redisstore: %s: %w", op, err)
		}
	}
	return nil
}

// wrap turns a Redis error into the package's error, mapping redis.Nil to
// store.ErrNotFound.
func wrap(op string, err error) error {
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// Contact returns the Intercom contact id stored for phone, or
// store.ErrNotFound.
func (s *Store) Contact(ctx context.Context, phone string) (string, error) {
	if err := check(ctx, "contact", store.ValidateNonEmpty("phone", phone)); err != nil {
		return "", err
	}
	id, err := s.rdb.HGet(ctx, s.key("contacts"), phone).Result()
	if err != nil {
		return "", wrap("contact", err)
	}
	return id, nil
}

// SetContact stores (or replaces) the Intercom contact id for phone.
func (s *Store) SetContact(ctx context.Context, phone, contactID string) error {
	if err := check(ctx, "set contact", store.ValidateNonEmpty("phone", phone), store.ValidateNonEmpty("contact id", contactID)); err != nil {
		return err
	}
	if err := s.rdb.HSet(ctx, s.key("contacts"), phone, contactID).Err(); err != nil {
		return wrap("set contact", err)
	}
	return nil
}

// DeleteContact forgets phone's contact; deleting a missing one is not an
// error.
func (s *Store) DeleteContact(ctx context.Context, phone string) error {
	if err := check(ctx, "delete contact", store.ValidateNonEmpty("phone", phone)); err != nil {
		return err
	}
	if err := s.rdb.HDel(ctx, s.key("contacts"), phone).Err(); err != nil {
		return wrap("delete contact", err)
	}
	return nil
}

// threadRecord is a thread as stored in the threads hash.
// StateAt is absent from records written before the field existed, and
// from records whose StateAt is unknown (zero).
type threadRecord struct {
	ContactID      string    `json:"contact_id,omitempty"`
	ConversationID string    `json:"conversation_id"`
	State          string    `json:"state"`
	StateAt        time.Time `json:"state_at,omitzero"`
	LastInbound    time.Time `json:"last_inbound"`
}

// Thread returns the thread stored under key, or store.ErrNotFound.
func (s *Store) Thread(ctx context.Context, key store.ThreadKey) (store.Thread, error) {
	if err := check(ctx, "thread", key.Validate()); err != nil {
		return store.Thread{}, err
	}
	raw, err := s.rdb.HGet(ctx, s.key("threads"), key.String()).Bytes()
	if err != nil {
		return store.Thread{}, wrap("thread", err)
	}
	var rec threadRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return store.Thread{}, fmt.Errorf("redisstore: thread %s: corrupt record: %w", key, err)
	}
	return store.Thread{
		Key:            key,
		ContactID:      rec.ContactID,
		ConversationID: rec.ConversationID,
		State:          store.ConversationState(rec.State),
		StateAt:        rec.StateAt,
		LastInbound:    rec.LastInbound,
	}, nil
}

// PutThread stores t under t.Key and maps t.ConversationID to t.Key, in one
// transaction. Mappings of earlier conversations are kept.
func (s *Store) PutThread(ctx context.Context, t store.Thread) error {
	if err := check(ctx, "put thread", t.Validate()); err != nil {
		return err
	}
	raw, err := json.Marshal(threadRecord{
		ContactID:      t.ContactID,
		ConversationID: t.ConversationID,
		State:          string(t.State),
		StateAt:        t.StateAt,
		LastInbound:    t.LastInbound,
	})
	if err != nil {
		return fmt.Errorf("redisstore: put thread: %w", err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.key("threads"), t.Key.String(), raw)
		p.HSet(ctx, s.key("conversations"), t.ConversationID, t.Key.String())
		return nil
	})
	if err != nil {
		return wrap("put thread", err)
	}
	return nil
}

// DeleteThread forgets the thread stored under key; its conversation
// mappings stay. Deleting a missing one is not an error.
func (s *Store) DeleteThread(ctx context.Context, key store.ThreadKey) error {
	if err := check(ctx, "delete thread", key.Validate()); err != nil {
		return err
	}
	if err := s.rdb.HDel(ctx, s.key("threads"), key.String()).Err(); err != nil {
		return wrap("delete thread", err)
	}
	return nil
}

// ThreadByConversation returns the key of the thread that conversationID
// carries or carried, or store.ErrNotFound.
func (s *Store) ThreadByConversation(ctx context.Context, conversationID string) (store.ThreadKey, error) {
	if err := check(ctx, "thread by conversation", store.ValidateNonEmpty("conversation id", conversationID)); err != nil {
		return store.ThreadKey{}, err
	}
	v, err := s.rdb.HGet(ctx, s.key("conversations"), conversationID).Result()
	if err != nil {
		return store.ThreadKey{}, wrap("thread by conversation", err)
	}
	customer, sender, ok := strings.Cut(v, "|")
	if !ok {
		return store.ThreadKey{}, fmt.Errorf("redisstore: thread by conversation %s: corrupt thread key %q", conversationID, v)
	}
	return store.ThreadKey{Customer: customer, Sender: sender}, nil
}

// Message fields in the message hashes.
const (
	fConversation = "conversation"
	fPart         = "part"
	fCustomer     = "customer"
	fSender       = "sender"
	fStatus       = "status"
	fErrorCode    = "error_code"
	fRank         = "rank"
	fStarted      = "started" // "1" or "0"; absent from records of releases before it
)

// legacyStartedStatus is how releases before store.Message.Started
// recorded a customer's text that started its conversation.
const legacyStartedStatus = "received:started-conversation"

// readLegacy returns m as this release records it: a message with the
// status of releases before store.Message.Started (kept in Redis from
// then, or written by a replica of such a release during a rolling
// upgrade) comes back with the status "received" and Started set.
func readLegacy(m store.Message) store.Message {
	if m.Status == legacyStartedStatus {
		m.Status, m.Started = "received", true
	}
	return m
}

// flag returns the hash value of b.
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// PutMessage records m, replacing any record with the same SID. With
// [WithRecordTTL] the record expires after that TTL.
func (s *Store) PutMessage(ctx context.Context, m store.Message) error {
	if err := check(ctx, "put message", m.Validate()); err != nil {
		return err
	}
	k := s.key("msg", m.SID)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		p.HSet(ctx, k,
			fConversation, m.ConversationID,
			fPart, m.PartID,
			fCustomer, m.Thread.Customer,
			fSender, m.Thread.Sender,
			fStatus, m.Status,
			fErrorCode, m.ErrorCode,
			fRank, store.StatusRank(m.Status),
			fStarted, flag(m.Started),
		)
		if s.recordTTL > 0 {
			p.PExpire(ctx, k, ceilMillis(s.recordTTL))
		}
		return nil
	})
	if err != nil {
		return wrap("put message", err)
	}
	return nil
}

// Message returns the message recorded under sid, or store.ErrNotFound.
func (s *Store) Message(ctx context.Context, sid string) (store.Message, error) {
	if err := check(ctx, "message", store.ValidateNonEmpty("SID", sid)); err != nil {
		return store.Message{}, err
	}
	h, err := s.rdb.HGetAll(ctx, s.key("msg", sid)).Result()
	if err != nil {
		return store.Message{}, wrap("message", err)
	}
	if len(h) == 0 {
		return store.Message{}, fmt.Errorf("redisstore: message %s: %w", sid, store.ErrNotFound)
	}
	code, err := strconv.Atoi(h[fErrorCode])
	if err != nil {
		return store.Message{}, fmt.Errorf("redisstore: message %s: corrupt error code: %w", sid, err)
	}
	return readLegacy(store.Message{
		SID:            sid,
		ConversationID: h[fConversation],
		PartID:         h[fPart],
		Thread:         store.ThreadKey{Customer: h[fCustomer], Sender: h[fSender]},
		Status:         h[fStatus],
		ErrorCode:      code,
		Started:        h[fStarted] == "1",
	}), nil
}

// AdvanceMessageStatus sets the status and error code of message sid if
// store.StatusRank(status) is greater than the rank of its current status,
// atomically (one Lua script). It returns the message as stored afterwards
// and whether it changed, or store.ErrNotFound.
func (s *Store) AdvanceMessageStatus(ctx context.Context, sid, status string, errorCode int) (store.Message, bool, error) {
	if err := check(ctx, "advance message status", store.ValidateNonEmpty("SID", sid), store.ValidateNonEmpty("status", status)); err != nil {
		return store.Message{}, false, err
	}
	res, err := s.advance.Run(ctx, s.rdb, []string{s.key("msg", sid), s.key("req", newToken())},
		status, errorCode, store.StatusRank(status), requestMemory.Milliseconds()).Slice()
	if err != nil {
		return store.Message{}, false, wrap("advance message status", err)
	}
	r := reply(res)
	if r.int(0) < 0 {
		return store.Message{}, false, fmt.Errorf("redisstore: message %s: %w", sid, store.ErrNotFound)
	}
	m := store.Message{
		SID:            sid,
		Status:         r.str(2),
		ErrorCode:      int(r.int(3)),
		ConversationID: r.str(4),
		PartID:         r.str(5),
		Thread:         store.ThreadKey{Customer: r.str(6), Sender: r.str(7)},
		Started:        r.str(8) == "1",
	}
	if r.err != nil {
		return store.Message{}, false, fmt.Errorf("redisstore: advance message status %s: %w", sid, r.err)
	}
	return readLegacy(m), r.int(1) == 1, nil
}

// Marked reports whether marker was recorded by Mark (and has not expired,
// with [WithRecordTTL]).
func (s *Store) Marked(ctx context.Context, marker string) (bool, error) {
	if err := check(ctx, "marked", store.ValidateNonEmpty("marker", marker)); err != nil {
		return false, err
	}
	n, err := s.rdb.Exists(ctx, s.key("part", marker)).Result()
	if err != nil {
		return false, wrap("marked", err)
	}
	return n == 1, nil
}

// Mark records marker (for the record TTL, if one was set with
// [WithRecordTTL]).
func (s *Store) Mark(ctx context.Context, marker string) error {
	if err := check(ctx, "mark", store.ValidateNonEmpty("marker", marker)); err != nil {
		return err
	}
	var ttl time.Duration // 0: no expiry
	if s.recordTTL > 0 {
		ttl = ceilMillis(s.recordTTL)
	}
	if err := s.rdb.Set(ctx, s.key("part", marker), "1", ttl).Err(); err != nil {
		return wrap("mark", err)
	}
	return nil
}

// SetOptedOut records whether key's customer has opted out of messages from
// key's sender.
func (s *Store) SetOptedOut(ctx context.Context, key store.ThreadKey, optedOut bool) error {
	if err := check(ctx, "set opted out", key.Validate()); err != nil {
		return err
	}
	var err error
	if optedOut {
		err = s.rdb.SAdd(ctx, s.key("optout"), key.String()).Err()
	} else {
		err = s.rdb.SRem(ctx, s.key("optout"), key.String()).Err()
	}
	if err != nil {
		return wrap("set opted out", err)
	}
	return nil
}

// OptedOut reports whether key's customer has opted out of messages from
// key's sender.
func (s *Store) OptedOut(ctx context.Context, key store.ThreadKey) (bool, error) {
	if err := check(ctx, "opted out", key.Validate()); err != nil {
		return false, err
	}
	ok, err := s.rdb.SIsMember(ctx, s.key("optout"), key.String()).Result()
	if err != nil {
		return false, wrap("opted out", err)
	}
	return ok, nil
}

// MarkSeen records key for ttl (SET NX PX, so the TTL runs on the Redis
// clock) and reports whether it was new. TTLs are kept in whole
// milliseconds, rounded up. The key holds a value unique to the call, so a
// command the client sends again after a lost reply still reports the key
// as new.
func (s *Store) MarkSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := check(ctx, "mark seen", store.ValidateNonEmpty("seen key", key), store.ValidateTTL(ttl)); err != nil {
		return false, err
	}
	n, err := s.markSeen.Run(ctx, s.rdb, []string{s.key("seen", key)},
		ceilMillis(ttl).Milliseconds(), newToken()).Int64()
	if err != nil {
		return false, wrap("mark seen", err)
	}
	return n == 1, nil
}

// ceilMillis rounds d up to a whole, positive number of milliseconds, the
// resolution of PX. It cannot overflow: within a millisecond of the largest
// Duration it rounds down instead.
func ceilMillis(d time.Duration) time.Duration {
	ms := d / time.Millisecond
	if d%time.Millisecond > 0 && ms < math.MaxInt64/time.Millisecond {
		ms++
	}
	return max(1, ms) * time.Millisecond
}

// reply reads the flat array a Lua script returns. The first conversion
// error is kept in err; later reads return zero values.
type replyReader struct {
	v   []any
	err error
}

func reply(v []any) *replyReader { return &replyReader{v: v} }

func (r *replyReader) at(i int) any {
	if i >= len(r.v) {
		if r.err == nil {
			r.err = fmt.Errorf("script reply has %d elements, want more than %d", len(r.v), i)
		}
		return nil
	}
	return r.v[i]
}

func (r *replyReader) int(i int) int64 {
	switch x := r.at(i).(type) {
	case int64:
		return x
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil && r.err == nil {
			r.err = fmt.Errorf("script reply element %d: %w", i, err)
		}
		return n
	case nil:
		return 0
	default:
		if r.err == nil {
			r.err = fmt.Errorf("script reply element %d has type %T", i, x)
		}
		return 0
	}
}

func (r *replyReader) str(i int) string {
	switch x := r.at(i).(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case nil:
		return ""
	default:
		if r.err == nil {
			r.err = fmt.Errorf("script reply element %d has type %T", i, x)
		}
		return ""
	}
}
