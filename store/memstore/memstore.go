package memstore

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/smsrelay/smsrelay/store"
)

var (
	_ store.Store = (*Store)(nil)
	_ store.Queue = (*Store)(nil)
)

// Store is an in-memory [store.Store] and [store.Queue]. Make one with
// [New]; the zero value is not usable. It is safe for concurrent use.
type Store struct {
	now func() time.Time

	mu       sync.Mutex
	contacts map[string]string                // phone → contact id
	threads  map[store.ThreadKey]store.Thread // thread key → thread
	convs    map[string]store.ThreadKey       // conversation id → thread key
	messages map[string]store.Message         // SID → message
	markers  map[string]struct{}              // markers recorded by Mark
	optOuts  map[store.ThreadKey]struct{}     // opted-out (customer, sender) pairs
	seen     map[string]time.Time             // seen key → expiry
	expiries expiryHeap                       // seen keys by expiry, for sweeping
	q        queue                            // the job queue
	wake     wakers                           // Wake's subscribers
}

// Option configures a [Store] made by [New]. Options are applied in order;
// the last one of a kind wins, and a nil Option is skipped.
//
// Like the options of pgstore, redisstore and intercom, an Option sets an
// unexported configuration. Unlike theirs, which have the shape
// func(*config) error so that each can refuse a bad argument and the
// constructor return that error, a memstore Option cannot fail: every
// option accepts every value it can be given (WithClock(nil) keeps
// time.Now). So New has no error to return, and stays usable inside an
// expression, as in relay.Config{Store: memstore.New()}.
type Option func(*config)

// config is what the options set.
type config struct {
	now func() time.Time
}

// WithClock makes the store read the time from now instead of [time.Now].
// Leases, retry delays and TTLs are measured with it; tests can pass a fake
// clock to move time without sleeping. A nil now leaves [time.Now] in place.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// New returns an empty store.
func New(opts ...Option) *Store {
	c := config{now: time.Now}
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	s := &Store{
		now:      c.now,
		contacts: make(map[string]string),
		threads:  make(map[store.ThreadKey]store.Thread),
		convs:    make(map[string]store.ThreadKey),
		messages: make(map[string]store.Message),
		markers:  make(map[string]struct{}),
		optOuts:  make(map[store.ThreadKey]struct{}),
		seen:     make(map[string]time.Time),
	}
	s.q.init()
	return s
}

// ctxErr returns the context's error, wrapped, if ctx is done.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	return nil
}

// invalid returns the first of errs, the verdicts of the rules of package
// store on a call's arguments, that is not nil, wrapped with the method
// that refused it; nil when every argument passes.
func invalid(method string, errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("memstore: %s: %w", method, err)
		}
	}
	return nil
}

// Contact returns the Intercom contact id stored for phone, or
// [store.ErrNotFound].
func (s *Store) Contact(ctx context.Context, phone string) (string, error) {
	if err := ctxErr(ctx); err != nil {
		return "", err
	}
	if err := invalid("Contact", store.ValidateNonEmpty("phone", phone)); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.contacts[phone]
	if !ok {
		return "", store.ErrNotFound
	}
	return id, nil
}

// SetContact stores (or replaces) the Intercom contact id for phone.
func (s *Store) SetContact(ctx context.Context, phone, contactID string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalid("SetContact", store.ValidateNonEmpty("phone", phone), store.ValidateNonEmpty("contact id", contactID)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.contacts[phone] = contactID
	return nil
}

// DeleteContact forgets phone's contact; deleting a missing one is not an
// error.
func (s *Store) DeleteContact(ctx context.Context, phone string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalid("DeleteContact", store.ValidateNonEmpty("phone", phone)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.contacts, phone)
	return nil
}

// Thread returns the thread stored under key, or [store.ErrNotFound].
func (s *Store) Thread(ctx context.Context, key store.ThreadKey) (store.Thread, error) {
	if err := ctxErr(ctx); err != nil {
		return store.Thread{}, err
	}
	if err := invalid("Thread", key.Validate()); err != nil {
		return store.Thread{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.threads[key]
	if !ok {
		return store.Thread{}, store.ErrNotFound
	}
	return t, nil
}

// PutThread stores t under t.Key and maps t.ConversationID to t.Key, keeping
// the mappings of the key's earlier conversations.
func (s *Store) PutThread(ctx context.Context, t store.Thread) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalid("PutThread", t.Validate()); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.threads[t.Key] = t
	s.convs[t.ConversationID] = t.Key
	return nil
}

// DeleteThread forgets the thread stored under key; its conversation
// mappings stay. Deleting a missing one is not an error.
func (s *Store) DeleteThread(ctx context.Context, key store.ThreadKey) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalid("DeleteThread", key.Validate()); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.threads, key)
	return nil
}

// ThreadByConversation returns the key of the thread that conversationID
// carries or carried, or [store.ErrNotFound].
func (s *Store) ThreadByConversation(ctx context.Context, conversationID string) (store.ThreadKey, error) {
	if err := ctxErr(ctx); err != nil {
		return store.ThreadKey{}, err
	}
	if err := invalid("ThreadByConversation", store.ValidateNonEmpty("conversation id", conversationID)); err != nil {
		return store.ThreadKey{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.convs[conversationID]
	if !ok {
		return store.ThreadKey{}, store.ErrNotFound
	}
	return key, nil
}

// PutMessage records m, replacing any record with the same SID.
func (s *Store) PutMessage(ctx context.Context, m store.Message) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalid("PutMessage", m.Validate()); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages[m.SID] = m
	return nil
}

// Message returns the message recorded under sid, or [store.ErrNotFound].
func (s *Store) Message(ctx context.Context, sid string) (store.Message, error) {
	if err := ctxErr(ctx); err != nil {
		return store.Message{}, err
	}
	if err := invalid("Message", store.ValidateNonEmpty("SID", sid)); err != nil {
		return store.Message{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[sid]
	if !ok {
		return store.Message{}, store.ErrNotFound
	}
	return m, nil
}

// AdvanceMessageStatus sets the status and error code of message sid if
// status ranks above its current one ([store.StatusRank]). It returns the
// message as stored afterwards and whether it changed, or
// [store.ErrNotFound].
func (s *Store) AdvanceMessageStatus(ctx context.Context, sid, status string, errorCode int) (store.Message, bool, error) {
	if err := ctxErr(ctx); err != nil {
		return store.Message{}, false, err
	}
	if err := invalid("AdvanceMessageStatus", store.ValidateNonEmpty("SID", sid), store.ValidateNonEmpty("status", status)); err != nil {
		return store.Message{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[sid]
	if !ok {
		return store.Message{}, false, store.ErrNotFound
	}
	if store.StatusRank(status) <= store.StatusRank(m.Status) {
		return m, false, nil
	}
	m.Status, m.ErrorCode = status, errorCode
	s.messages[sid] = m
	return m, true, nil
}

// Marked reports whether marker was recorded by Mark.
func (s *Store) Marked(ctx context.Context, marker string) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	if err := invalid("Marked", store.ValidateNonEmpty("marker", marker)); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.markers[marker]
	return ok, nil
}

// Mark records marker; recording it again is not an error.
func (s *Store) Mark(ctx context.Context, marker string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalid("Mark", store.ValidateNonEmpty("marker", marker)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.markers[marker] = struct{}{}
	return nil
}

// SetOptedOut records whether key's customer opted out of messages from
// key's sender.
func (s *Store) SetOptedOut(ctx context.Context, key store.ThreadKey, optedOut bool) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalid("SetOptedOut", key.Validate()); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if optedOut {
		s.optOuts[key] = struct{}{}
	} else {
		delete(s.optOuts, key)
	}
	return nil
}

// OptedOut reports whether key's customer opted out of messages from key's
// sender.
func (s *Store) OptedOut(ctx context.Context, key store.ThreadKey) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	if err := invalid("OptedOut", key.Validate()); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.optOuts[key]
	return ok, nil
}

// MarkSeen records key for ttl and reports whether it was new. Recording a
// key again before its ttl runs out returns false and leaves its expiry as
// it was.
func (s *Store) MarkSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	if err := invalid("MarkSeen", store.ValidateNonEmpty("seen key", key), store.ValidateTTL(ttl)); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.markSeen(s.now(), key, ttl), nil
}

// markSeen is MarkSeen with s.mu held. It first sweeps expired keys.
func (s *Store) markSeen(now time.Time, key string, ttl time.Duration) bool {
	s.sweepSeen(now)
	if exp, ok := s.seen[key]; ok && exp.After(now) {
		return false
	}
	exp := now.Add(ttl)
	s.seen[key] = exp
	heap.Push(&s.expiries, expiry{at: exp, key: key})
	return true
}

// sweepSeen forgets the seen keys whose TTL ran out by now.
func (s *Store) sweepSeen(now time.Time) {
	for len(s.expiries) > 0 && !s.expiries[0].at.After(now) {
		e := heap.Pop(&s.expiries).(expiry)
		if exp, ok := s.seen[e.key]; ok && exp.Equal(e.at) {
			delete(s.seen, e.key)
		}
	}
}

// expiry is when a seen key runs out.
type expiry struct {
	at  time.Time
	key string
}

// expiryHeap is a min-heap of expiries; it implements [heap.Interface].
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = expiry{}
	*h = old[:len(old)-1]
	return e
}
