package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
)

// call is one method call of a table.
type call struct {
	name string
	do   func(ctx context.Context) error
}

// try runs c, turning a panic into an error so that the table goes on.
func try(ctx context.Context, c call) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			err, panicked = fmt.Errorf("panic: %v", r), true
		}
	}()
	return c.do(ctx), false
}

// sentinels are the errors that mean an answer, not a bad argument.
var sentinels = []error{store.ErrNotFound, store.ErrNoJob, store.ErrDuplicate, store.ErrLeaseLost}

// TestArgumentValidation checks that every method rejects bad arguments
// with an error that is none of the sentinels, does not panic, and changes
// nothing.
func TestArgumentValidation(t *testing.T, newStore func(t *testing.T) Backend) {
	t.Run("Rejected", func(t *testing.T) {
		e := open(t, newStore)
		b := e.b
		live := e.enqueue("live", []byte("x"))
		held := e.claimID(longLease, live)
		noLease := held
		noLease.Lease = ""
		noID := held
		noID.ID = ""
		noKey := held
		noKey.Key = ""
		key := store.ThreadKey{Customer: "+15550000001", Sender: "+15559990000"}
		good := store.Thread{Key: key, ConversationID: "conv-1", State: store.StateOpen}
		with := func(f func(*store.Thread)) store.Thread { th := good; f(&th); return th }

		calls := []call{
			{"Contact empty phone", func(ctx context.Context) error { _, err := b.Contact(ctx, ""); return err }},
			{"SetContact empty phone", func(ctx context.Context) error { return b.SetContact(ctx, "", "c1") }},
			{"SetContact empty contact id", func(ctx context.Context) error { return b.SetContact(ctx, "+15550000001", "") }},
			{"DeleteContact empty phone", func(ctx context.Context) error { return b.DeleteContact(ctx, "") }},

			{"Thread zero key", func(ctx context.Context) error { _, err := b.Thread(ctx, store.ThreadKey{}); return err }},
			{"Thread no sender", func(ctx context.Context) error {
				_, err := b.Thread(ctx, store.ThreadKey{Customer: "+15550000001"})
				return err
			}},
			{"Thread no customer", func(ctx context.Context) error {
				_, err := b.Thread(ctx, store.ThreadKey{Sender: "+15550000001"})
				return err
			}},
			{"Thread key with |", func(ctx context.Context) error {
				_, err := b.Thread(ctx, store.ThreadKey{Customer: "a|b", Sender: "c"})
				return err
			}},
			{"PutThread zero", func(ctx context.Context) error { return b.PutThread(ctx, store.Thread{}) }},
			{"PutThread no conversation", func(ctx context.Context) error {
				return b.PutThread(ctx, with(func(th *store.Thread) { th.ConversationID = "" }))
			}},
			{"PutThread no state", func(ctx context.Context) error {
				return b.PutThread(ctx, with(func(th *store.Thread) { th.State = "" }))
			}},
			{"PutThread bad state", func(ctx context.Context) error {
				return b.PutThread(ctx, with(func(th *store.Thread) { th.State = "snoozed" }))
			}},
			{"PutThread bad key", func(ctx context.Context) error {
				return b.PutThread(ctx, with(func(th *store.Thread) { th.Key.Sender = "" }))
			}},
			{"DeleteThread zero key", func(ctx context.Context) error { return b.DeleteThread(ctx, store.ThreadKey{}) }},
			{"ThreadByConversation empty id", func(ctx context.Context) error {
				_, err := b.ThreadByConversation(ctx, "")
				return err
			}},

			{"PutMessage zero", func(ctx context.Context) error { return b.PutMessage(ctx, store.Message{}) }},
			{"PutMessage no conversation", func(ctx context.Context) error {
				return b.PutMessage(ctx, store.Message{SID: "SM1", Status: "queued"})
			}},
			{"Message empty sid", func(ctx context.Context) error { _, err := b.Message(ctx, ""); return err }},
			{"AdvanceMessageStatus empty sid", func(ctx context.Context) error {
				_, _, err := b.AdvanceMessageStatus(ctx, "", "sent", 0)
				return err
			}},
			{"AdvanceMessageStatus empty status", func(ctx context.Context) error {
				_, _, err := b.AdvanceMessageStatus(ctx, "SM1", "", 0)
				return err
			}},

			{"Marked empty id", func(ctx context.Context) error { _, err := b.Marked(ctx, ""); return err }},
			{"Mark empty id", func(ctx context.Context) error { return b.Mark(ctx, "") }},
			{"SetOptedOut zero key", func(ctx context.Context) error { return b.SetOptedOut(ctx, store.ThreadKey{}, true) }},
			{"OptedOut zero key", func(ctx context.Context) error { _, err := b.OptedOut(ctx, store.ThreadKey{}); return err }},

			{"MarkSeen empty key", func(ctx context.Context) error { _, err := b.MarkSeen(ctx, "", time.Minute); return err }},
			{"MarkSeen zero ttl", func(ctx context.Context) error { _, err := b.MarkSeen(ctx, "k", 0); return err }},
			{"MarkSeen negative ttl", func(ctx context.Context) error { _, err := b.MarkSeen(ctx, "k", -time.Second); return err }},

			{"Enqueue zero job", func(ctx context.Context) error { _, err := b.Enqueue(ctx, store.NewJob{}); return err }},
			{"Enqueue no kind", func(ctx context.Context) error { _, err := b.Enqueue(ctx, store.NewJob{Key: "k"}); return err }},
			{"Enqueue no key", func(ctx context.Context) error { _, err := b.Enqueue(ctx, store.NewJob{Kind: "k"}); return err }},
			{"Enqueue dedupe key without ttl", func(ctx context.Context) error {
				_, err := b.Enqueue(ctx, store.NewJob{Kind: "k", Key: "k", DedupeKey: "d"})
				return err
			}},
			{"Enqueue dedupe key with negative ttl", func(ctx context.Context) error {
				_, err := b.Enqueue(ctx, store.NewJob{Kind: "k", Key: "k", DedupeKey: "d", DedupeTTL: -time.Second})
				return err
			}},
			{"Claim zero lease", func(ctx context.Context) error { _, err := b.Claim(ctx, 0); return err }},
			{"Claim negative lease", func(ctx context.Context) error { _, err := b.Claim(ctx, -time.Second); return err }},
			{"Extend zero lease", func(ctx context.Context) error { return b.Extend(ctx, held, 0) }},
			{"Extend negative lease", func(ctx context.Context) error { return b.Extend(ctx, held, -time.Second) }},
			{"Extend zero job", func(ctx context.Context) error { return b.Extend(ctx, store.Job{}, time.Minute) }},
			{"Extend no lease token", func(ctx context.Context) error { return b.Extend(ctx, noLease, time.Minute) }},
			{"Extend no id", func(ctx context.Context) error { return b.Extend(ctx, noID, time.Minute) }},
			{"Complete zero job", func(ctx context.Context) error { return b.Complete(ctx, store.Job{}) }},
			{"Complete no lease token", func(ctx context.Context) error { return b.Complete(ctx, noLease) }},
			{"Complete no id", func(ctx context.Context) error { return b.Complete(ctx, noID) }},
			{"Complete no key", func(ctx context.Context) error { return b.Complete(ctx, noKey) }},
			{"Extend no key", func(ctx context.Context) error { return b.Extend(ctx, noKey, time.Minute) }},
			{"Retry negative delay", func(ctx context.Context) error { return b.Retry(ctx, held, -time.Second, "r") }},
			{"Retry zero job", func(ctx context.Context) error { return b.Retry(ctx, store.Job{}, 0, "r") }},
			{"Retry no lease token", func(ctx context.Context) error { return b.Retry(ctx, noLease, 0, "r") }},
			{"DeadLetter zero job", func(ctx context.Context) error { return b.DeadLetter(ctx, store.Job{}, "r") }},
			{"DeadLetter no lease token", func(ctx context.Context) error { return b.DeadLetter(ctx, noLease, "r") }},
			{"DeadLetters zero limit", func(ctx context.Context) error { _, err := b.DeadLetters(ctx, 0); return err }},
			{"DeadLetters negative limit", func(ctx context.Context) error { _, err := b.DeadLetters(ctx, -1); return err }},
			{"Replay empty id", func(ctx context.Context) error { return b.Replay(ctx, "") }},
			{"DiscardDeadLetter empty id", func(ctx context.Context) error { return b.DiscardDeadLetter(ctx, "") }},
		}
		for _, c := range calls {
			err, panicked := try(e.ctx, c)
			switch {
			case panicked:
				t.Errorf("%s: %v", c.name, err)
			case err == nil:
				t.Errorf("%s: no error, want one", c.name)
			default:
				for _, s := range sentinels {
					if errors.Is(err, s) {
						t.Errorf("%s: error %q matches %v, want an argument error", c.name, err, s)
					}
				}
			}
		}

		// Nothing changed: the held job is still held, and completes.
		e.stats(store.Stats{Leased: 1})
		e.noJob("the only job is still held")
		e.complete(held)
		e.stats(store.Stats{})
		if dl := e.deadLetters(10); len(dl) != 0 {
			t.Fatalf("DeadLetters = %d jobs after rejected calls, want none", len(dl))
		}
		if _, err := e.b.Contact(e.ctx, "+15550000001"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Contact after rejected SetContact: %v, want ErrNotFound", err)
		}
	})
	t.Run("HugeDurations", func(t *testing.T) {
		for _, h := range hugeDurations {
			t.Run(h.name, func(t *testing.T) { checkHugeDuration(t, newStore, h.d) })
		}
	})
	t.Run("Accepted", func(t *testing.T) {
		// Boundary values that are valid.
		e := open(t, newStore)
		e.enqueue("k", nil)
		held := e.claim(longLease)
		noErr(t, "Retry with zero delay and no reason", e.b.Retry(e.ctx, held, 0, ""))
		held = e.claimWithin(longLease)
		noErr(t, "DeadLetter with no reason", e.b.DeadLetter(e.ctx, held, ""))
		_, err := e.b.Enqueue(e.ctx, store.NewJob{Kind: "k", Key: "k", DedupeTTL: time.Second})
		noErr(t, "Enqueue with a TTL but no dedupe key", err)
		noErr(t, "PutMessage with no status", e.b.PutMessage(e.ctx, store.Message{SID: "SM1", ConversationID: "c"}))
	})
}

// TestContext checks that every method called with a cancelled context
// fails with an error matching context.Canceled and changes nothing.
func TestContext(t *testing.T, newStore func(t *testing.T) Backend) {
	t.Run("Cancelled", func(t *testing.T) {
		e := open(t, newStore)
		b := e.b
		e.enqueue("other", nil)
		held := e.claim(longLease)
		key := store.ThreadKey{Customer: "+15550000001", Sender: "+15559990000"}
		noErr(t, "PutMessage", b.PutMessage(e.ctx, store.Message{SID: "SM1", ConversationID: "c", Status: "queued"}))

		calls := []call{
			{"Contact", func(ctx context.Context) error { _, err := b.Contact(ctx, "+15550000001"); return err }},
			{"SetContact", func(ctx context.Context) error { return b.SetContact(ctx, "+15550000001", "c1") }},
			{"DeleteContact", func(ctx context.Context) error { return b.DeleteContact(ctx, "+15550000001") }},
			{"Thread", func(ctx context.Context) error { _, err := b.Thread(ctx, key); return err }},
			{"PutThread", func(ctx context.Context) error {
				return b.PutThread(ctx, store.Thread{Key: key, ConversationID: "conv-1", State: store.StateOpen})
			}},
			{"DeleteThread", func(ctx context.Context) error { return b.DeleteThread(ctx, key) }},
			{"ThreadByConversation", func(ctx context.Context) error {
				_, err := b.ThreadByConversation(ctx, "conv-1")
				return err
			}},
			{"PutMessage", func(ctx context.Context) error {
				return b.PutMessage(ctx, store.Message{SID: "SM2", ConversationID: "c"})
			}},
			{"Message", func(ctx context.Context) error { _, err := b.Message(ctx, "SM1"); return err }},
			{"AdvanceMessageStatus", func(ctx context.Context) error {
				_, _, err := b.AdvanceMessageStatus(ctx, "SM1", "delivered", 0)
				return err
			}},
			{"Marked", func(ctx context.Context) error { _, err := b.Marked(ctx, "p1"); return err }},
			{"Mark", func(ctx context.Context) error { return b.Mark(ctx, "p1") }},
			{"SetOptedOut", func(ctx context.Context) error { return b.SetOptedOut(ctx, key, true) }},
			{"OptedOut", func(ctx context.Context) error { _, err := b.OptedOut(ctx, key); return err }},
			{"MarkSeen", func(ctx context.Context) error { _, err := b.MarkSeen(ctx, "s1", time.Minute); return err }},
			{"Enqueue", func(ctx context.Context) error {
				_, err := b.Enqueue(ctx, store.NewJob{Kind: "k", Key: "k", DedupeKey: "d1", DedupeTTL: time.Minute})
				return err
			}},
			{"Claim", func(ctx context.Context) error { _, err := b.Claim(ctx, time.Minute); return err }},
			{"Extend", func(ctx context.Context) error { return b.Extend(ctx, held, time.Minute) }},
			{"Complete", func(ctx context.Context) error { return b.Complete(ctx, held) }},
			{"Retry", func(ctx context.Context) error { return b.Retry(ctx, held, 0, "r") }},
			{"DeadLetter", func(ctx context.Context) error { return b.DeadLetter(ctx, held, "r") }},
			{"DeadLetters", func(ctx context.Context) error { _, err := b.DeadLetters(ctx, 10); return err }},
			{"Replay", func(ctx context.Context) error { return b.Replay(ctx, held.ID) }},
			{"DiscardDeadLetter", func(ctx context.Context) error { return b.DiscardDeadLetter(ctx, held.ID) }},
			{"Stats", func(ctx context.Context) error { _, err := b.Stats(ctx); return err }},
		}
		cancelled, cancel := context.WithCancel(e.ctx)
		cancel()
		for _, c := range calls {
			err, panicked := try(cancelled, c)
			switch {
			case panicked:
				t.Errorf("%s with a cancelled context: %v", c.name, err)
			case !errors.Is(err, context.Canceled):
				t.Errorf("%s with a cancelled context: error %v, want one matching context.Canceled", c.name, err)
			}
		}

		// Nothing changed.
		e.stats(store.Stats{Leased: 1})
		e.complete(held)
		if _, err := b.Contact(e.ctx, "+15550000001"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Contact after a cancelled SetContact: %v, want ErrNotFound", err)
		}
		if _, err := b.Thread(e.ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Thread after a cancelled PutThread: %v, want ErrNotFound", err)
		}
		if m, err := b.Message(e.ctx, "SM1"); err != nil || m.Status != "queued" {
			t.Fatalf("Message after a cancelled AdvanceMessageStatus = %+v, %v; want status queued", m, err)
		}
		if r, err := b.Marked(e.ctx, "p1"); err != nil || r {
			t.Fatalf("Marked after a cancelled Mark = %v, %v; want false", r, err)
		}
		if o, err := b.OptedOut(e.ctx, key); err != nil || o {
			t.Fatalf("OptedOut after a cancelled SetOptedOut = %v, %v; want false", o, err)
		}
		if n, err := b.MarkSeen(e.ctx, "s1", time.Minute); err != nil || !n {
			t.Fatalf("MarkSeen after a cancelled MarkSeen = %v, %v; want true", n, err)
		}
		if n, err := b.MarkSeen(e.ctx, "d1", time.Minute); err != nil || !n {
			t.Fatalf("MarkSeen of the dedupe key of a cancelled Enqueue = %v, %v; want true", n, err)
		}
		e.noJob("a cancelled Enqueue inserts nothing")
	})
}

// hugeDurations are leases, delays and TTLs at the edge of time.Duration,
// where adding them to a clock overflows unless the backend takes care.
var hugeDurations = []struct {
	name string
	d    time.Duration
}{
	{"MaxInt64", math.MaxInt64},
	{"MaxInt64-1", math.MaxInt64 - 1},
	{"2^62", 1 << 62},
}

// hugeWait is how long the huge-duration checks wait before they look
// again, so that a duration that overflowed into a few milliseconds shows
// as well as one that overflowed into the past.
const hugeWait = 20 * time.Millisecond

// checkHugeDuration checks that every method taking a duration either
// rejects d with an argument error, changing nothing, or honours it: a
// lease of d holds, a delay of d keeps the job back, a TTL of d keeps the
// key. A duration that overflows into the past or into a moment from now
// fails.
func checkHugeDuration(t *testing.T, newStore func(*testing.T) Backend, d time.Duration) {
	// rejected reports whether err is an argument error, and fails the test
	// if it is an error of another kind.
	rejected := func(t *testing.T, what string, err error, panicked bool) bool {
		t.Helper()
		switch {
		case panicked:
			t.Fatalf("%s: %v", what, err)
		case err == nil:
			return false
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				t.Fatalf("%s: error %q matches %v, want success or an argument error", what, err, s)
			}
		}
		return true
	}

	t.Run("MarkSeen", func(t *testing.T) {
		e := open(t, newStore)
		var isNew bool
		err, panicked := try(e.ctx, call{"", func(ctx context.Context) error {
			var err error
			isNew, err = e.b.MarkSeen(ctx, "seen", d)
			return err
		}})
		what := fmt.Sprintf("MarkSeen with ttl %v", d)
		if rejected(t, what, err, panicked) {
			isNew, err := e.b.MarkSeen(e.ctx, "seen", longTTL)
			noErr(t, "MarkSeen after a rejected MarkSeen", err)
			if !isNew {
				t.Fatalf("MarkSeen after %s was rejected = false, want true: the rejected call recorded the key", what)
			}
			return
		}
		if !isNew {
			t.Fatalf("%s of a new key = false, want true", what)
		}
		time.Sleep(hugeWait)
		isNew, err = e.b.MarkSeen(e.ctx, "seen", longTTL)
		noErr(t, "second MarkSeen", err)
		if isNew {
			t.Fatalf("MarkSeen %v after %s = true, want false: the ttl ran out at once", hugeWait, what)
		}
	})
	t.Run("DedupeTTL", func(t *testing.T) {
		e := open(t, newStore)
		job := func(ttl time.Duration) store.NewJob {
			return store.NewJob{Kind: "k", Key: "k", DedupeKey: "dedupe", DedupeTTL: ttl}
		}
		err, panicked := try(e.ctx, call{"", func(ctx context.Context) error { _, err := e.b.Enqueue(ctx, job(d)); return err }})
		what := fmt.Sprintf("Enqueue with dedupe ttl %v", d)
		if rejected(t, what, err, panicked) {
			e.stats(store.Stats{})
			_, err := e.b.Enqueue(e.ctx, job(longTTL))
			noErr(t, fmt.Sprintf("Enqueue after %s was rejected (did the rejected call record the key?)", what), err)
			return
		}
		time.Sleep(hugeWait)
		_, err = e.b.Enqueue(e.ctx, job(longTTL))
		wantErr(t, fmt.Sprintf("Enqueue %v after %s (did the ttl run out at once?)", hugeWait, what), err, store.ErrDuplicate)
		e.stats(store.Stats{Ready: 1})
	})
	// claim claims the only job with d, or with longLease if d is
	// rejected, and reports whether d was used.
	claim := func(t *testing.T, e *env) (store.Job, bool) {
		t.Helper()
		e.enqueue("k", nil)
		var held store.Job
		err, panicked := try(e.ctx, call{"", func(ctx context.Context) error {
			var err error
			held, err = e.b.Claim(ctx, d)
			return err
		}})
		if rejected(t, fmt.Sprintf("Claim with lease %v", d), err, panicked) {
			e.stats(store.Stats{Ready: 1})
			return e.claim(longLease), false
		}
		return held, true
	}
	t.Run("Claim", func(t *testing.T) {
		e := open(t, newStore)
		if _, used := claim(t, e); used {
			time.Sleep(hugeWait)
			e.noJob(fmt.Sprintf("the only job was claimed with lease %v %v ago; the lease ran out at once", d, hugeWait))
		}
	})
	t.Run("Extend", func(t *testing.T) {
		e := open(t, newStore)
		held, _ := claim(t, e)
		err, panicked := try(e.ctx, call{"", func(ctx context.Context) error { return e.b.Extend(ctx, held, d) }})
		rejected(t, fmt.Sprintf("Extend with lease %v", d), err, panicked)
		time.Sleep(hugeWait)
		e.noJob(fmt.Sprintf("the only job is held, its lease extended by %v %v ago or left as it was", d, hugeWait))
		e.stats(store.Stats{Leased: 1})
		e.complete(held)
	})
	t.Run("Retry", func(t *testing.T) {
		e := open(t, newStore)
		held, _ := claim(t, e)
		err, panicked := try(e.ctx, call{"", func(ctx context.Context) error { return e.b.Retry(ctx, held, d, "later") }})
		if rejected(t, fmt.Sprintf("Retry with delay %v", d), err, panicked) {
			e.stats(store.Stats{Leased: 1})
			e.noJob("the only job is still held after a rejected Retry")
			e.complete(held)
			return
		}
		e.stats(store.Stats{Ready: 1})
		time.Sleep(hugeWait)
		e.noJob(fmt.Sprintf("the only job was retried with delay %v %v ago; its run time came at once", d, hugeWait))
	})
}
