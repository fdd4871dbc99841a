package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The rules for arguments, each in one place: the checking layer
// ([Checked], [CheckedQueue]) applies them, and the shipped stores call
// them for their own callers. Every error they return starts with
// "store: " and matches none of the sentinel errors.

// ValidateNonEmpty reports whether value, the argument called name (a
// phone number, a contact, conversation or job id, a message SID, a
// status, a marker, a seen key), is set.
func ValidateNonEmpty(name, value string) error {
	if value == "" {
		return fmt.Errorf("store: empty %s", name)
	}
	return nil
}

// ValidateHeld reports whether j can be handed back to Extend, Complete,
// Retry or DeadLetter: it must carry its ID, its Key and the Lease token
// that Claim gave it. Whether that lease is still the job's current one is
// for the store to tell ([ErrLeaseLost]), not this check.
func ValidateHeld(j Job) error {
	switch {
	case j.ID == "":
		return errors.New("store: job has no id")
	case j.Key == "":
		return fmt.Errorf("store: job %s has no ordering key", j.ID)
	case j.Lease == "":
		return fmt.Errorf("store: job %s has no lease token: it was not returned by Claim", j.ID)
	}
	return nil
}

// ValidateLease reports whether lease, the length of a lease given to
// Claim or Extend, is positive.
func ValidateLease(lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("store: lease %v is not positive", lease)
	}
	return nil
}

// ValidateTTL reports whether ttl, how long MarkSeen records a key, is
// positive. (A NewJob's DedupeTTL is checked by [NewJob.Validate].)
func ValidateTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("store: ttl %v is not positive", ttl)
	}
	return nil
}

// ValidateDelay reports whether delay, how long Retry keeps a job back, is
// not negative. Zero means at once.
func ValidateDelay(delay time.Duration) error {
	if delay < 0 {
		return fmt.Errorf("store: delay %v is negative", delay)
	}
	return nil
}

// ValidateLimit reports whether limit, the most dead letters DeadLetters
// lists, is positive.
func ValidateLimit(limit int) error {
	if limit <= 0 {
		return fmt.Errorf("store: limit %d is not positive", limit)
	}
	return nil
}

// Checked returns s behind the checking layer: every call first fails,
// without calling s, when its context has ended or is nil, or when an
// argument breaks a rule of the package documentation (see "The checking
// layer"), and otherwise goes to s unchanged, with s's answer returned
// unchanged. When s also implements [Queue], so does the value returned,
// with its Queue methods checked too; other methods of s are not carried
// over. Checked of a value that Checked or [CheckedQueue] returned returns
// it as it is; Checked(nil) returns nil.
func Checked(s Store) Store {
	switch c := s.(type) {
	case nil:
		return nil
	case checkedStore, checkedBackend:
		return c
	}
	if q, ok := s.(Queue); ok {
		return checkedBackend{checkedStore{s}, checkedQueue{q}}
	}
	return checkedStore{s}
}

// CheckedQueue returns q behind the checking layer, as [Checked] does for
// a Store. When q also implements [Store], so does the value returned, with
// its Store methods checked too.
func CheckedQueue(q Queue) Queue {
	switch c := q.(type) {
	case nil:
		return nil
	case checkedQueue, checkedBackend:
		return c
	}
	if s, ok := q.(Store); ok {
		return checkedBackend{checkedStore{s}, checkedQueue{q}}
	}
	return checkedQueue{q}
}

// Compile-time checks that the layer's types implement the contracts.
var (
	_ Store = checkedStore{}
	_ Queue = checkedQueue{}
	_ Store = checkedBackend{}
	_ Queue = checkedBackend{}
)

// checkedBackend is a value that is both a Store and a Queue, behind the
// checking layer.
type checkedBackend struct {
	checkedStore
	checkedQueue
}

// argError is an argument refused by the checking layer.
type argError struct {
	method string
	err    error // starts with "store: "
}

func (e *argError) Error() string {
	return "store: " + e.method + ": " + strings.TrimPrefix(e.err.Error(), "store: ")
}

func (e *argError) Unwrap() error { return e.err }

// check returns an error when ctx is nil or has ended, or else the first
// of errs that is not nil, each naming method; nil when all is well.
func check(ctx context.Context, method string, errs ...error) error {
	if ctx == nil {
		return &argError{method, errors.New("store: nil context")}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: %s: %w", method, err)
	}
	for _, err := range errs {
		if err != nil {
			return &argError{method, err}
		}
	}
	return nil
}

// checkedStore is a Store behind the checking layer.
type checkedStore struct{ s Store }

func (c checkedStore) Contact(ctx context.Context, phone string) (string, error) {
	if err := check(ctx, "Contact", ValidateNonEmpty("phone", phone)); err != nil {
		return "", err
	}
	return c.s.Contact(ctx, phone)
}

func (c checkedStore) SetContact(ctx context.Context, phone, contactID string) error {
	if err := check(ctx, "SetContact", ValidateNonEmpty("phone", phone), ValidateNonEmpty("contact id", contactID)); err != nil {
		return err
	}
	return c.s.SetContact(ctx, phone, contactID)
}

func (c checkedStore) DeleteContact(ctx context.Context, phone string) error {
	if err := check(ctx, "DeleteContact", ValidateNonEmpty("phone", phone)); err != nil {
		return err
	}
	return c.s.DeleteContact(ctx, phone)
}

func (c checkedStore) Thread(ctx context.Context, key ThreadKey) (Thread, error) {
	if err := check(ctx, "Thread", key.Validate()); err != nil {
		return Thread{}, err
	}
	return c.s.Thread(ctx, key)
}

func (c checkedStore) PutThread(ctx context.Context, t Thread) error {
	if err := check(ctx, "PutThread", t.Validate()); err != nil {
		return err
	}
	return c.s.PutThread(ctx, t)
}

func (c checkedStore) DeleteThread(ctx context.Context, key ThreadKey) error {
	if err := check(ctx, "DeleteThread", key.Validate()); err != nil {
		return err
	}
	return c.s.DeleteThread(ctx, key)
}

func (c checkedStore) ThreadByConversation(ctx context.Context, conversationID string) (ThreadKey, error) {
	if err := check(ctx, "ThreadByConversation", ValidateNonEmpty("conversation id", conversationID)); err != nil {
		return ThreadKey{}, err
	}
	return c.s.ThreadByConversation(ctx, conversationID)
}

func (c checkedStore) PutMessage(ctx context.Context, m Message) error {
	if err := check(ctx, "PutMessage", m.Validate()); err != nil {
		return err
	}
	return c.s.PutMessage(ctx, m)
}

func (c checkedStore) Message(ctx context.Context, sid string) (Message, error) {
	if err := check(ctx, "Message", ValidateNonEmpty("SID", sid)); err != nil {
		return Message{}, err
	}
	return c.s.Message(ctx, sid)
}

func (c checkedStore) AdvanceMessageStatus(ctx context.Context, sid, status string, errorCode int) (Message, bool, error) {
	if err := check(ctx, "AdvanceMessageStatus", ValidateNonEmpty("SID", sid), ValidateNonEmpty("status", status)); err != nil {
		return Message{}, false, err
	}
	return c.s.AdvanceMessageStatus(ctx, sid, status, errorCode)
}

func (c checkedStore) Marked(ctx context.Context, marker string) (bool, error) {
	if err := check(ctx, "Marked", ValidateNonEmpty("marker", marker)); err != nil {
		return false, err
	}
	return c.s.Marked(ctx, marker)
}

func (c checkedStore) Mark(ctx context.Context, marker string) error {
	if err := check(ctx, "Mark", ValidateNonEmpty("marker", marker)); err != nil {
		return err
	}
	return c.s.Mark(ctx, marker)
}

func (c checkedStore) SetOptedOut(ctx context.Context, key ThreadKey, optedOut bool) error {
	if err := check(ctx, "SetOptedOut", key.Validate()); err != nil {
		return err
	}
	return c.s.SetOptedOut(ctx, key, optedOut)
}

func (c checkedStore) OptedOut(ctx context.Context, key ThreadKey) (bool, error) {
	if err := check(ctx, "OptedOut", key.Validate()); err != nil {
		return false, err
	}
	return c.s.OptedOut(ctx, key)
}

func (c checkedStore) MarkSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := check(ctx, "MarkSeen", ValidateNonEmpty("seen key", key), ValidateTTL(ttl)); err != nil {
		return false, err
	}
	return c.s.MarkSeen(ctx, key, ttl)
}

// checkedQueue is a Queue behind the checking layer.
type checkedQueue struct{ q Queue }

func (c checkedQueue) Enqueue(ctx context.Context, j NewJob) (Job, error) {
	if err := check(ctx, "Enqueue", j.Validate()); err != nil {
		return Job{}, err
	}
	return c.q.Enqueue(ctx, j)
}

func (c checkedQueue) Claim(ctx context.Context, lease time.Duration) (Job, error) {
	if err := check(ctx, "Claim", ValidateLease(lease)); err != nil {
		return Job{}, err
	}
	return c.q.Claim(ctx, lease)
}

func (c checkedQueue) Extend(ctx context.Context, j Job, lease time.Duration) error {
	if err := check(ctx, "Extend", ValidateHeld(j), ValidateLease(lease)); err != nil {
		return err
	}
	return c.q.Extend(ctx, j, lease)
}

func (c checkedQueue) Complete(ctx context.Context, j Job) error {
	if err := check(ctx, "Complete", ValidateHeld(j)); err != nil {
		return err
	}
	return c.q.Complete(ctx, j)
}

func (c checkedQueue) Retry(ctx context.Context, j Job, delay time.Duration, reason string) error {
	if err := check(ctx, "Retry", ValidateHeld(j), ValidateDelay(delay)); err != nil {
		return err
	}
	return c.q.Retry(ctx, j, delay, reason)
}

func (c checkedQueue) DeadLetter(ctx context.Context, j Job, reason string) error {
	if err := check(ctx, "DeadLetter", ValidateHeld(j)); err != nil {
		return err
	}
	return c.q.DeadLetter(ctx, j, reason)
}

func (c checkedQueue) DeadLetters(ctx context.Context, limit int) ([]Job, error) {
	if err := check(ctx, "DeadLetters", ValidateLimit(limit)); err != nil {
		return nil, err
	}
	return c.q.DeadLetters(ctx, limit)
}

func (c checkedQueue) Replay(ctx context.Context, id string) error {
	if err := check(ctx, "Replay", ValidateNonEmpty("job id", id)); err != nil {
		return err
	}
	return c.q.Replay(ctx, id)
}

func (c checkedQueue) DiscardDeadLetter(ctx context.Context, id string) error {
	if err := check(ctx, "DiscardDeadLetter", ValidateNonEmpty("job id", id)); err != nil {
		return err
	}
	return c.q.DiscardDeadLetter(ctx, id)
}

func (c checkedQueue) Stats(ctx context.Context) (Stats, error) {
	if err := check(ctx, "Stats"); err != nil {
		return Stats{}, err
	}
	return c.q.Stats(ctx)
}
