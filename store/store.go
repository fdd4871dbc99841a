// Package store declares the storage contracts of smsrelay: [Store], which
// keeps the small records the relay needs (contacts, threads, messages,
// markers, opt-outs, de-duplication keys), and [Queue], the durable job
// queue with leases, retries, dead letters and per-key ordering.
//
// # A public extension point
//
// Both interfaces are stable, public extension points: the relay consumes
// them, and anyone may implement them for a database of their choice. The
// project ships three implementations: [github.com/smsrelay/smsrelay/store/memstore]
// (in memory, for one process and for tests), [github.com/smsrelay/smsrelay/store/pgstore]
// (PostgreSQL) and [github.com/smsrelay/smsrelay/store/redisstore] (Redis).
//
// # Writing your own
//
// An implementation must:
//
//   - be safe for concurrent use by many goroutines and, for a shared
//     backend, by many processes;
//   - return [ErrNotFound] (possibly wrapped) when a record does not exist;
//   - make [Queue.Enqueue] with a DedupeKey atomic: the key is recorded and
//     the job inserted together, or neither happens;
//   - hand a job to at most one holder at a time, and never hand out a job
//     while another job with the same Key is leased or is older and not yet
//     finished (completed or dead-lettered): jobs of one key run one at a
//     time, in the order they were enqueued;
//   - give a job back to [Queue.Claim] once its lease expires, and refuse
//     ([ErrLeaseLost]) a Complete, Retry, Extend or DeadLetter that comes
//     with a lease token that is no longer the job's current one;
//   - never move a message's status back from a later rank to an earlier one
//     ([StatusRank]);
//   - measure leases, delays and TTLs with one clock (the backend's own, for
//     a shared backend) so that replicas with skewed clocks agree;
//   - reject bad arguments (the rules of the checking layer below: empty
//     keys or ids, a job without its lease token, non-positive leases, TTLs
//     or limits, negative delays) with an error that matches none of the
//     sentinels, and never panic on them;
//   - return an error matching the context's error, and change nothing,
//     when called with a context that has ended.
//
// A store that is only ever used behind the checking layer may leave the
// last two to it (see below).
//
// Where the contract leaves a choice, the shipped stores agree: a holder
// whose lease lapsed may still finish the job until another worker claims
// it; Replay keeps the job's ID and CreatedAt and puts it behind its key's
// waiting jobs; DeadLetters lists in the order jobs died.
//
// Then run the conformance suite in
// [github.com/smsrelay/smsrelay/store/storetest] from a test of your
// package: storetest.Run(t, newStore), where newStore returns a new, empty,
// isolated store (its own schema or key prefix) on every call. It
// exercises every method, every sentinel error, concurrent claimers, lease
// expiry, TTLs and ordering, and it checks argument validation and ended
// contexts on the store exactly as newStore returns it.
//
// # The checking layer
//
// [Checked] and [CheckedQueue] put a store behind a layer that checks
// every call before the store sees it; the relay puts the store it is
// given behind it. A call fails in the layer, and the store is not called,
// when:
//
//   - its context is nil or has ended: the error matches the context's
//     error ([context.Canceled] or [context.DeadlineExceeded]);
//   - an argument breaks a rule: an empty phone, contact id, conversation
//     id, message SID, status (AdvanceMessageStatus), marker, seen key or
//     job id ([ValidateNonEmpty]); a ThreadKey, Thread, Message or NewJob
//     whose Validate method fails; a job handed back to Extend, Complete,
//     Retry or DeadLetter without its ID, Key or Lease token
//     ([ValidateHeld]); a lease or MarkSeen TTL that is not positive
//     ([ValidateLease], [ValidateTTL]); a negative Retry delay
//     ([ValidateDelay]); a DeadLetters limit that is not positive
//     ([ValidateLimit]). The error matches none of the sentinels.
//
// Each rule lives in one exported function or method of this package, and
// stores that check their own arguments call the same ones.
//
// Behind the layer a store may assume that every argument passes these
// rules and that the context had not ended when the call began. It must
// still, itself:
//
//   - honour the context during the call: one that ends while the store
//     waits on its backend fails the call with an error matching the
//     context's error;
//   - answer with the sentinels, also for arguments that pass the rules
//     but name nothing it has: an id it never handed out is a dead letter
//     it does not have ([ErrNotFound]) or a lease that is not current
//     ([ErrLeaseLost]);
//   - honour every duration the layer lets through, up to the largest
//     time.Duration, without overflowing, or reject one its backend cannot
//     hold with an error that matches none of the sentinels;
//   - keep every other rule above.
//
// The shipped stores also check their own arguments and contexts, with the
// functions above, because they can be called directly, and the
// conformance suite holds them to that. A store of your own that is only
// ever used behind the layer, and leaves those checks to it, runs the
// suite on storetest.Run(t, func(t *testing.T) storetest.Backend { return
// store.Checked(newStore(t)).(storetest.Backend) }): the suite's argument
// and context checks then check the layer in front of your store.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors returned by implementations, possibly wrapped. Callers test
// for them with [errors.Is].
var (
	// ErrNotFound means the record, job or dead letter does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrNoJob means Claim found no job ready to run now.
	ErrNoJob = errors.New("store: no job ready")
	// ErrDuplicate means Enqueue found the job's DedupeKey already recorded
	// and did not insert the job.
	ErrDuplicate = errors.New("store: duplicate job")
	// ErrLeaseLost means the lease presented with a job is no longer the
	// job's current lease: it expired and the job was claimed again, or the
	// job was already finished.
	ErrLeaseLost = errors.New("store: lease lost")
)

// ThreadKey names a thread: one customer address talking to one of our
// addresses. Customer and Sender are normalised addresses: E.164 phone
// numbers ("+15551234567"), "whatsapp:"-prefixed E.164 numbers, short codes
// or alphanumeric sender ids.
type ThreadKey struct {
	// Customer is the customer's address (Twilio's From on inbound messages).
	Customer string
	// Sender is our address the customer wrote to (Twilio's To).
	Sender string
}

// String returns the key as "customer|sender".
func (k ThreadKey) String() string { return k.Customer + "|" + k.Sender }

// Validate reports whether both halves of the key are set.
func (k ThreadKey) Validate() error {
	switch {
	case k.Customer == "":
		return errors.New("store: thread key has no customer address")
	case k.Sender == "":
		return errors.New("store: thread key has no sender address")
	case strings.Contains(k.Customer, "|") || strings.Contains(k.Sender, "|"):
		return errors.New("store: thread key addresses must not contain '|'")
	}
	return nil
}

// ConversationState is what the relay knows of an Intercom conversation's
// state.
type ConversationState string

// Conversation states.
const (
	StateOpen   ConversationState = "open"
	StateClosed ConversationState = "closed"
)

// Thread maps a [ThreadKey] to the Intercom conversation that currently
// carries it.
type Thread struct {
	Key            ThreadKey
	ContactID      string            // Intercom contact id of the customer
	ConversationID string            // Intercom conversation id
	State          ConversationState // open or closed
	// StateAt is when the conversation's State last changed, as far as the
	// relay knows: the conversation's updated_at from Intercom, or the time
	// of the notification that reported the change. The relay compares it
	// with the time of a later notification, so that a late "closed" that
	// is older than a re-open is recognised and ignored. The zero time
	// means unknown (threads stored before the field existed, or a change
	// whose time the relay did not learn). Stores keep it to the
	// microsecond at least.
	StateAt time.Time
	// LastInbound is when the customer last wrote on this thread; the relay
	// uses it for the idle-timeout rule.
	LastInbound time.Time
}

// Validate reports what is missing from t.
func (t Thread) Validate() error {
	if err := t.Key.Validate(); err != nil {
		return err
	}
	if t.ConversationID == "" {
		return errors.New("store: thread has no conversation id")
	}
	if t.State != StateOpen && t.State != StateClosed {
		return fmt.Errorf("store: thread state %q is neither open nor closed", t.State)
	}
	return nil
}

// Message records an SMS the relay handled, under its Twilio SID: one it
// sent on behalf of an agent, so that its status callbacks can be tied back
// to the conversation, or a customer's text it put on a conversation, so
// that a retried job does not post it twice.
type Message struct {
	SID            string    // Twilio message SID
	ConversationID string    // Intercom conversation the reply came from, or the text went to
	PartID         string    // Intercom conversation part that was relayed, for a reply
	Thread         ThreadKey // thread it was sent or received on
	// Status is the last status Twilio reported for the message, never
	// moved back (see StatusRank); the relay records a customer's text as
	// "received", as Twilio's inbound messages are.
	Status    string
	ErrorCode int // Twilio error code of the last status, 0 if none
	// Started says that this customer's text started ConversationID: the
	// relay created the conversation with it, so the conversation still
	// needs the relay's routing once the text is on it. It is false for
	// replies sent by the relay and for texts added to an existing
	// conversation. AdvanceMessageStatus leaves it as it is.
	//
	// Releases before this field recorded such a text with the Status
	// "received:started-conversation". pgstore's migration rewrites those
	// records, and pgstore and redisstore read any they still meet (one
	// written by a replica of an earlier release during a rolling upgrade,
	// or kept in Redis) as Status "received" with Started set.
	Started bool
}

// Validate reports what is missing from m.
func (m Message) Validate() error {
	if m.SID == "" {
		return errors.New("store: message has no SID")
	}
	if m.ConversationID == "" {
		return errors.New("store: message has no conversation id")
	}
	return nil
}

// StatusRank orders Twilio message statuses so that out-of-order status
// callbacks never move a message back: queued/accepted/scheduled < sending <
// sent < delivered, undelivered, failed, canceled < read. Unknown statuses
// rank 0. Final statuses share a rank, so the first one recorded stays.
func StatusRank(status string) int {
	switch status {
	case "accepted", "scheduled", "queued":
		return 1
	case "sending":
		return 2
	case "sent":
		return 3
	case "delivered", "undelivered", "failed", "canceled", "partially_delivered":
		return 4
	case "read":
		return 5
	}
	return 0
}

// IsFinalStatus reports whether status is one from which Twilio will not move
// a message on, except to "read".
func IsFinalStatus(status string) bool { return StatusRank(status) >= 4 }

// Store keeps the relay's records. See the package documentation for the
// rules every implementation follows.
type Store interface {
	// Contact returns the Intercom contact id stored for phone, or
	// ErrNotFound.
	Contact(ctx context.Context, phone string) (string, error)
	// SetContact stores (or replaces) the Intercom contact id for phone.
	SetContact(ctx context.Context, phone, contactID string) error
	// DeleteContact forgets phone's contact; deleting a missing one is not an
	// error.
	DeleteContact(ctx context.Context, phone string) error

	// Thread returns the thread stored under key, or ErrNotFound.
	Thread(ctx context.Context, key ThreadKey) (Thread, error)
	// PutThread stores t under t.Key, every field as given (StateAt and
	// LastInbound to the microsecond at least), replacing what was there,
	// and records t.ConversationID → t.Key for ThreadByConversation.
	// Mappings of earlier conversations of the same key are kept, so that a
	// late reply on an old conversation still finds its thread.
	PutThread(ctx context.Context, t Thread) error
	// DeleteThread forgets the thread stored under key (its conversation
	// mappings stay); deleting a missing one is not an error.
	DeleteThread(ctx context.Context, key ThreadKey) error
	// ThreadByConversation returns the key of the thread that conversationID
	// carries or carried, or ErrNotFound.
	ThreadByConversation(ctx context.Context, conversationID string) (ThreadKey, error)

	// PutMessage records a message the relay handled, every field as given,
	// replacing any record with the same SID.
	PutMessage(ctx context.Context, m Message) error
	// Message returns the message recorded under sid, or ErrNotFound.
	Message(ctx context.Context, sid string) (Message, error)
	// AdvanceMessageStatus sets the status (and error code) of message sid if
	// StatusRank(status) is greater than the rank of its current status,
	// leaving its other fields, Started among them, as they are. It returns
	// the message as stored afterwards and whether it changed, or
	// ErrNotFound.
	AdvanceMessageStatus(ctx context.Context, sid, status string, errorCode int) (Message, bool, error)

	// Marked reports whether marker was recorded by Mark.
	Marked(ctx context.Context, marker string) (bool, error)
	// Mark records marker, a fact the relay must remember across attempts,
	// restarts and replicas: a conversation part relayed, a side effect
	// whose outcome was unknown, a note already written. Markers are opaque
	// strings built by the relay (relay/keys.go holds every one of them);
	// recording one twice is not an error. A store keeps markers at least
	// as long as the jobs that may consult them.
	Mark(ctx context.Context, marker string) error

	// SetOptedOut records whether key's customer has opted out of messages
	// from key's sender.
	SetOptedOut(ctx context.Context, key ThreadKey, optedOut bool) error
	// OptedOut reports whether key's customer has opted out of messages from
	// key's sender; an address never seen is not opted out.
	OptedOut(ctx context.Context, key ThreadKey) (bool, error)

	// MarkSeen records key for ttl and reports whether it was new: false
	// means key was recorded before and its ttl has not run out.
	MarkSeen(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// JobState is where a job is in its life.
type JobState string

// Job states.
const (
	JobReady  JobState = "ready"  // waiting for its run time and its turn
	JobLeased JobState = "leased" // claimed by a worker
	JobDead   JobState = "dead"   // dead-lettered
)

// NewJob is what Enqueue takes.
type NewJob struct {
	// Kind tells the worker how to read Payload. Required.
	Kind string
	// Key orders jobs: jobs with the same Key run one at a time, in the order
	// they were enqueued. Required.
	Key string
	// Payload is the job's data, opaque to the queue.
	Payload []byte
	// DedupeKey, when set, makes Enqueue insert the job only if the key was
	// not recorded in the last DedupeTTL; otherwise it returns ErrDuplicate.
	// The key shares its namespace with Store.MarkSeen.
	DedupeKey string
	// DedupeTTL is how long DedupeKey is remembered; required with DedupeKey.
	DedupeTTL time.Duration
}

// Validate reports what is missing from j.
func (j NewJob) Validate() error {
	switch {
	case j.Kind == "":
		return errors.New("store: job has no kind")
	case j.Key == "":
		return errors.New("store: job has no ordering key")
	case j.DedupeKey != "" && j.DedupeTTL <= 0:
		return errors.New("store: job has a dedupe key but no positive dedupe TTL")
	}
	return nil
}

// Job is a job as the queue hands it out.
type Job struct {
	ID        string
	Kind      string
	Key       string
	Payload   []byte
	State     JobState
	Attempt   int       // how many times the job was claimed, this claim included
	Lease     string    // token of the current lease; empty unless leased
	LastError string    // reason given by the last Retry or DeadLetter
	CreatedAt time.Time // when it was enqueued
}

// Stats counts jobs by state.
type Stats struct {
	Ready  int // waiting, whether or not their run time has come
	Leased int // claimed and not finished
	Dead   int // dead-lettered
}

// Queue is a durable job queue with leases. See the package documentation for
// the rules every implementation follows.
type Queue interface {
	// Enqueue inserts a ready job and returns it. With a DedupeKey it returns
	// ErrDuplicate, and inserts nothing, when the key was seen.
	Enqueue(ctx context.Context, j NewJob) (Job, error)
	// Claim leases the oldest job that is ready, whose run time has come and
	// whose key has no other job leased or waiting before it, for lease. It
	// returns ErrNoJob when there is none. The returned job's Attempt counts
	// this claim; its Lease identifies this holder.
	Claim(ctx context.Context, lease time.Duration) (Job, error)
	// Extend pushes the lease of j out to lease from now.
	Extend(ctx context.Context, j Job, lease time.Duration) error
	// Complete removes j from the queue.
	Complete(ctx context.Context, j Job) error
	// Retry puts j back, ready to run after delay, recording reason. Jobs of
	// the same key stay behind it.
	Retry(ctx context.Context, j Job, delay time.Duration, reason string) error
	// DeadLetter moves j to the dead letters with reason; later jobs of its
	// key may then run.
	DeadLetter(ctx context.Context, j Job, reason string) error
	// DeadLetters lists up to limit dead letters, oldest first.
	DeadLetters(ctx context.Context, limit int) ([]Job, error)
	// Replay puts dead letter id back in the queue as a new ready job of the
	// same key (behind that key's waiting jobs), with Attempt reset to 0. It
	// returns ErrNotFound when there is no such dead letter.
	Replay(ctx context.Context, id string) error
	// DiscardDeadLetter deletes dead letter id for good, or returns
	// ErrNotFound.
	DiscardDeadLetter(ctx context.Context, id string) error
	// Stats counts the jobs in the queue.
	Stats(ctx context.Context) (Stats, error)
}
