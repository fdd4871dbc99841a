package store_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/store/storetest"
)

// backend is a Store that is also a Queue.
type backend interface {
	store.Store
	store.Queue
}

// recorder is a backend that records the methods called on it and answers
// every call with answer.
type recorder struct {
	calls  []string
	answer error
}

func (r *recorder) called(m string) error { r.calls = append(r.calls, m); return r.answer }

func (r *recorder) Contact(context.Context, string) (string, error) {
	return "", r.called("Contact")
}
func (r *recorder) SetContact(context.Context, string, string) error { return r.called("SetContact") }
func (r *recorder) DeleteContact(context.Context, string) error      { return r.called("DeleteContact") }
func (r *recorder) Thread(context.Context, store.ThreadKey) (store.Thread, error) {
	return store.Thread{}, r.called("Thread")
}
func (r *recorder) PutThread(context.Context, store.Thread) error { return r.called("PutThread") }
func (r *recorder) DeleteThread(context.Context, store.ThreadKey) error {
	return r.called("DeleteThread")
}
func (r *recorder) ThreadByConversation(context.Context, string) (store.ThreadKey, error) {
	return store.ThreadKey{}, r.called("ThreadByConversation")
}
func (r *recorder) PutMessage(context.Context, store.Message) error { return r.called("PutMessage") }
func (r *recorder) Message(context.Context, string) (store.Message, error) {
	return store.Message{}, r.called("Message")
}
func (r *recorder) AdvanceMessageStatus(context.Context, string, string, int) (store.Message, bool, error) {
	return store.Message{}, false, r.called("AdvanceMessageStatus")
}
func (r *recorder) Marked(context.Context, string) (bool, error) { return false, r.called("Marked") }
func (r *recorder) Mark(context.Context, string) error           { return r.called("Mark") }
func (r *recorder) SetOptedOut(context.Context, store.ThreadKey, bool) error {
	return r.called("SetOptedOut")
}
func (r *recorder) OptedOut(context.Context, store.ThreadKey) (bool, error) {
	return false, r.called("OptedOut")
}
func (r *recorder) MarkSeen(context.Context, string, time.Duration) (bool, error) {
	return false, r.called("MarkSeen")
}
func (r *recorder) Enqueue(context.Context, store.NewJob) (store.Job, error) {
	return store.Job{}, r.called("Enqueue")
}
func (r *recorder) Claim(context.Context, time.Duration) (store.Job, error) {
	return store.Job{}, r.called("Claim")
}
func (r *recorder) Extend(context.Context, store.Job, time.Duration) error { return r.called("Extend") }
func (r *recorder) Complete(context.Context, store.Job) error              { return r.called("Complete") }
func (r *recorder) Retry(context.Context, store.Job, time.Duration, string) error {
	return r.called("Retry")
}
func (r *recorder) DeadLetter(context.Context, store.Job, string) error {
	return r.called("DeadLetter")
}
func (r *recorder) DeadLetters(context.Context, int) ([]store.Job, error) {
	return nil, r.called("DeadLetters")
}
func (r *recorder) Replay(context.Context, string) error { return r.called("Replay") }
func (r *recorder) DiscardDeadLetter(context.Context, string) error {
	return r.called("DiscardDeadLetter")
}
func (r *recorder) Stats(context.Context) (store.Stats, error) {
	return store.Stats{}, r.called("Stats")
}

// storeOnly and queueOnly hide one of the recorder's interfaces.
type storeOnly struct{ store.Store }
type queueOnly struct{ store.Queue }

var sentinels = []error{store.ErrNotFound, store.ErrNoJob, store.ErrDuplicate, store.ErrLeaseLost}

func TestChecked(t *testing.T) {
	key := store.ThreadKey{Customer: "+15550000001", Sender: "+15559990000"}
	thread := store.Thread{Key: key, ConversationID: "conv-1", State: store.StateOpen}
	held := store.Job{ID: "1", Key: "k", Lease: "token"}
	without := func(f func(*store.Job)) store.Job { j := held; f(&j); return j }
	type call = func(context.Context, backend) error
	tests := []struct {
		name   string
		method string // the method a valid call reaches
		call   call
		valid  bool
	}{
		{"Contact", "Contact", func(ctx context.Context, b backend) error { _, err := b.Contact(ctx, "+1555"); return err }, true},
		{"Contact empty phone", "", func(ctx context.Context, b backend) error { _, err := b.Contact(ctx, ""); return err }, false},
		{"SetContact", "SetContact", func(ctx context.Context, b backend) error { return b.SetContact(ctx, "+1555", "c1") }, true},
		{"SetContact empty phone", "", func(ctx context.Context, b backend) error { return b.SetContact(ctx, "", "c1") }, false},
		{"SetContact empty contact id", "", func(ctx context.Context, b backend) error { return b.SetContact(ctx, "+1555", "") }, false},
		{"DeleteContact", "DeleteContact", func(ctx context.Context, b backend) error { return b.DeleteContact(ctx, "+1555") }, true},
		{"DeleteContact empty phone", "", func(ctx context.Context, b backend) error { return b.DeleteContact(ctx, "") }, false},

		{"Thread", "Thread", func(ctx context.Context, b backend) error { _, err := b.Thread(ctx, key); return err }, true},
		{"Thread no sender", "", func(ctx context.Context, b backend) error {
			_, err := b.Thread(ctx, store.ThreadKey{Customer: "+1555"})
			return err
		}, false},
		{"Thread key with |", "", func(ctx context.Context, b backend) error {
			_, err := b.Thread(ctx, store.ThreadKey{Customer: "a|b", Sender: "c"})
			return err
		}, false},
		{"PutThread", "PutThread", func(ctx context.Context, b backend) error { return b.PutThread(ctx, thread) }, true},
		{"PutThread bad state", "", func(ctx context.Context, b backend) error {
			th := thread
			th.State = "snoozed"
			return b.PutThread(ctx, th)
		}, false},
		{"PutThread no conversation", "", func(ctx context.Context, b backend) error {
			th := thread
			th.ConversationID = ""
			return b.PutThread(ctx, th)
		}, false},
		{"DeleteThread", "DeleteThread", func(ctx context.Context, b backend) error { return b.DeleteThread(ctx, key) }, true},
		{"DeleteThread zero key", "", func(ctx context.Context, b backend) error { return b.DeleteThread(ctx, store.ThreadKey{}) }, false},
		{"ThreadByConversation", "ThreadByConversation", func(ctx context.Context, b backend) error {
			_, err := b.ThreadByConversation(ctx, "conv-1")
			return err
		}, true},
		{"ThreadByConversation empty id", "", func(ctx context.Context, b backend) error {
			_, err := b.ThreadByConversation(ctx, "")
			return err
		}, false},

		{"PutMessage", "PutMessage", func(ctx context.Context, b backend) error {
			return b.PutMessage(ctx, store.Message{SID: "SM1", ConversationID: "c"})
		}, true},
		{"PutMessage no SID", "", func(ctx context.Context, b backend) error {
			return b.PutMessage(ctx, store.Message{ConversationID: "c"})
		}, false},
		{"Message", "Message", func(ctx context.Context, b backend) error { _, err := b.Message(ctx, "SM1"); return err }, true},
		{"Message empty SID", "", func(ctx context.Context, b backend) error { _, err := b.Message(ctx, ""); return err }, false},
		{"AdvanceMessageStatus", "AdvanceMessageStatus", func(ctx context.Context, b backend) error {
			_, _, err := b.AdvanceMessageStatus(ctx, "SM1", "sent", 0)
			return err
		}, true},
		{"AdvanceMessageStatus empty SID", "", func(ctx context.Context, b backend) error {
			_, _, err := b.AdvanceMessageStatus(ctx, "", "sent", 0)
			return err
		}, false},
		{"AdvanceMessageStatus empty status", "", func(ctx context.Context, b backend) error {
			_, _, err := b.AdvanceMessageStatus(ctx, "SM1", "", 0)
			return err
		}, false},

		{"Marked", "Marked", func(ctx context.Context, b backend) error { _, err := b.Marked(ctx, "part:1"); return err }, true},
		{"Marked empty marker", "", func(ctx context.Context, b backend) error { _, err := b.Marked(ctx, ""); return err }, false},
		{"Mark", "Mark", func(ctx context.Context, b backend) error { return b.Mark(ctx, "part:1") }, true},
		{"Mark empty marker", "", func(ctx context.Context, b backend) error { return b.Mark(ctx, "") }, false},
		{"SetOptedOut", "SetOptedOut", func(ctx context.Context, b backend) error { return b.SetOptedOut(ctx, key, true) }, true},
		{"SetOptedOut zero key", "", func(ctx context.Context, b backend) error {
			return b.SetOptedOut(ctx, store.ThreadKey{}, true)
		}, false},
		{"OptedOut", "OptedOut", func(ctx context.Context, b backend) error { _, err := b.OptedOut(ctx, key); return err }, true},
		{"OptedOut zero key", "", func(ctx context.Context, b backend) error {
			_, err := b.OptedOut(ctx, store.ThreadKey{})
			return err
		}, false},
		{"MarkSeen", "MarkSeen", func(ctx context.Context, b backend) error { _, err := b.MarkSeen(ctx, "k", time.Minute); return err }, true},
		{"MarkSeen longest ttl", "MarkSeen", func(ctx context.Context, b backend) error {
			_, err := b.MarkSeen(ctx, "k", math.MaxInt64)
			return err
		}, true},
		{"MarkSeen empty key", "", func(ctx context.Context, b backend) error { _, err := b.MarkSeen(ctx, "", time.Minute); return err }, false},
		{"MarkSeen zero ttl", "", func(ctx context.Context, b backend) error { _, err := b.MarkSeen(ctx, "k", 0); return err }, false},
		{"MarkSeen negative ttl", "", func(ctx context.Context, b backend) error { _, err := b.MarkSeen(ctx, "k", -1); return err }, false},

		{"Enqueue", "Enqueue", func(ctx context.Context, b backend) error {
			_, err := b.Enqueue(ctx, store.NewJob{Kind: "k", Key: "k"})
			return err
		}, true},
		{"Enqueue no kind", "", func(ctx context.Context, b backend) error {
			_, err := b.Enqueue(ctx, store.NewJob{Key: "k"})
			return err
		}, false},
		{"Enqueue no key", "", func(ctx context.Context, b backend) error {
			_, err := b.Enqueue(ctx, store.NewJob{Kind: "k"})
			return err
		}, false},
		{"Enqueue dedupe key without ttl", "", func(ctx context.Context, b backend) error {
			_, err := b.Enqueue(ctx, store.NewJob{Kind: "k", Key: "k", DedupeKey: "d"})
			return err
		}, false},
		{"Claim", "Claim", func(ctx context.Context, b backend) error { _, err := b.Claim(ctx, time.Minute); return err }, true},
		{"Claim zero lease", "", func(ctx context.Context, b backend) error { _, err := b.Claim(ctx, 0); return err }, false},
		{"Claim negative lease", "", func(ctx context.Context, b backend) error { _, err := b.Claim(ctx, -time.Second); return err }, false},
		{"Extend", "Extend", func(ctx context.Context, b backend) error { return b.Extend(ctx, held, time.Minute) }, true},
		{"Extend zero lease", "", func(ctx context.Context, b backend) error { return b.Extend(ctx, held, 0) }, false},
		{"Extend no lease token", "", func(ctx context.Context, b backend) error {
			return b.Extend(ctx, without(func(j *store.Job) { j.Lease = "" }), time.Minute)
		}, false},
		{"Complete", "Complete", func(ctx context.Context, b backend) error { return b.Complete(ctx, held) }, true},
		{"Complete zero job", "", func(ctx context.Context, b backend) error { return b.Complete(ctx, store.Job{}) }, false},
		{"Complete no id", "", func(ctx context.Context, b backend) error {
			return b.Complete(ctx, without(func(j *store.Job) { j.ID = "" }))
		}, false},
		{"Complete no key", "", func(ctx context.Context, b backend) error {
			return b.Complete(ctx, without(func(j *store.Job) { j.Key = "" }))
		}, false},
		{"Complete no lease token", "", func(ctx context.Context, b backend) error {
			return b.Complete(ctx, without(func(j *store.Job) { j.Lease = "" }))
		}, false},
		{"Retry", "Retry", func(ctx context.Context, b backend) error { return b.Retry(ctx, held, 0, "") }, true},
		{"Retry negative delay", "", func(ctx context.Context, b backend) error { return b.Retry(ctx, held, -1, "") }, false},
		{"Retry no lease token", "", func(ctx context.Context, b backend) error {
			return b.Retry(ctx, without(func(j *store.Job) { j.Lease = "" }), 0, "")
		}, false},
		{"DeadLetter", "DeadLetter", func(ctx context.Context, b backend) error { return b.DeadLetter(ctx, held, "") }, true},
		{"DeadLetter no lease token", "", func(ctx context.Context, b backend) error {
			return b.DeadLetter(ctx, without(func(j *store.Job) { j.Lease = "" }), "")
		}, false},
		{"DeadLetters", "DeadLetters", func(ctx context.Context, b backend) error { _, err := b.DeadLetters(ctx, 1); return err }, true},
		{"DeadLetters zero limit", "", func(ctx context.Context, b backend) error { _, err := b.DeadLetters(ctx, 0); return err }, false},
		{"Replay", "Replay", func(ctx context.Context, b backend) error { return b.Replay(ctx, "1") }, true},
		{"Replay empty id", "", func(ctx context.Context, b backend) error { return b.Replay(ctx, "") }, false},
		{"DiscardDeadLetter", "DiscardDeadLetter", func(ctx context.Context, b backend) error { return b.DiscardDeadLetter(ctx, "1") }, true},
		{"DiscardDeadLetter empty id", "", func(ctx context.Context, b backend) error { return b.DiscardDeadLetter(ctx, "") }, false},
		{"Stats", "Stats", func(ctx context.Context, b backend) error { _, err := b.Stats(ctx); return err }, true},
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The answer of the store behind the layer comes back as it is.
			answer := errors.New("the store's own answer")
			r := &recorder{answer: answer}
			b := store.Checked(r).(backend)
			err := tt.call(t.Context(), b)
			switch {
			case tt.valid && (len(r.calls) != 1 || r.calls[0] != tt.method):
				t.Fatalf("calls %v, want one call of %s", r.calls, tt.method)
			case tt.valid && err != answer:
				t.Fatalf("error %v, want the store's answer unchanged", err)
			case !tt.valid && len(r.calls) != 0:
				t.Fatalf("a call with a bad argument reached the store: %v (error %v)", r.calls, err)
			case !tt.valid && err == nil:
				t.Fatal("no error for a bad argument")
			case !tt.valid:
				method, _, _ := strings.Cut(tt.name, " ")
				if !strings.HasPrefix(err.Error(), "store: "+method+": ") {
					t.Errorf("error %q does not start with %q", err, "store: "+method+": ")
				}
			}
			for _, s := range sentinels {
				if !tt.valid && errors.Is(err, s) {
					t.Errorf("error %q matches %v, want an argument error", err, s)
				}
			}

			// An ended context fails the call before the store sees it,
			// whatever the arguments.
			r.calls = nil
			err = tt.call(cancelled, b)
			if !errors.Is(err, context.Canceled) || len(r.calls) != 0 {
				t.Fatalf("with a cancelled context: error %v, calls %v; want context.Canceled and no call", err, r.calls)
			}
			var none context.Context
			err = tt.call(none, b)
			if err == nil || len(r.calls) != 0 {
				t.Fatalf("with a nil context: error %v, calls %v; want an error and no call", err, r.calls)
			}
		})
	}
}

func TestCheckedKeepsInterfaces(t *testing.T) {
	r := &recorder{}
	if _, ok := store.Checked(storeOnly{r}).(store.Queue); ok {
		t.Error("Checked of a Store that is no Queue returned a Queue")
	}
	if _, ok := store.CheckedQueue(queueOnly{r}).(store.Store); ok {
		t.Error("CheckedQueue of a Queue that is no Store returned a Store")
	}
	both := store.Checked(r)
	if _, ok := both.(store.Queue); !ok {
		t.Fatal("Checked of a Store that is a Queue returned no Queue")
	}
	if _, ok := store.CheckedQueue(r).(store.Store); !ok {
		t.Fatal("CheckedQueue of a Queue that is a Store returned no Store")
	}
	if again := store.Checked(both); again != both {
		t.Error("Checked of a checked value wrapped it again")
	}
	if again := store.CheckedQueue(both.(store.Queue)); again != both.(store.Queue) {
		t.Error("CheckedQueue of a checked value wrapped it again")
	}
	if store.Checked(nil) != nil || store.CheckedQueue(nil) != nil {
		t.Error("Checked(nil) or CheckedQueue(nil) is not nil")
	}
	// One layer only: the store sees a call once.
	_ = store.Checked(store.Checked(r)).Mark(t.Context(), "m")
	if len(r.calls) != 1 {
		t.Errorf("calls %v, want one", r.calls)
	}
}

// TestCheckedConformance runs the conformance suite on a memstore behind
// the checking layer: the layer changes no answer, and its argument and
// context checks pass the suite's.
func TestCheckedConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.Backend {
		return store.Checked(memstore.New()).(storetest.Backend)
	})
}

// TestValidators checks the boundaries of the exported rules.
func TestValidators(t *testing.T) {
	tests := []struct {
		name string
		err  error
		ok   bool
	}{
		{"NonEmpty set", store.ValidateNonEmpty("phone", "+1"), true},
		{"NonEmpty empty", store.ValidateNonEmpty("phone", ""), false},
		{"Held", store.ValidateHeld(store.Job{ID: "1", Key: "k", Lease: "t"}), true},
		{"Held no key", store.ValidateHeld(store.Job{ID: "1", Lease: "t"}), false},
		{"Lease 1ns", store.ValidateLease(time.Nanosecond), true},
		{"Lease longest", store.ValidateLease(math.MaxInt64), true},
		{"Lease 0", store.ValidateLease(0), false},
		{"TTL 1ns", store.ValidateTTL(time.Nanosecond), true},
		{"TTL 0", store.ValidateTTL(0), false},
		{"Delay 0", store.ValidateDelay(0), true},
		{"Delay -1ns", store.ValidateDelay(-1), false},
		{"Limit 1", store.ValidateLimit(1), true},
		{"Limit 0", store.ValidateLimit(0), false},
		{"Limit -1", store.ValidateLimit(-1), false},
	}
	for _, tt := range tests {
		if (tt.err == nil) != tt.ok {
			t.Errorf("%s: error %v, want ok %v", tt.name, tt.err, tt.ok)
		}
		if tt.err != nil && !strings.HasPrefix(tt.err.Error(), "store: ") {
			t.Errorf("%s: error %q does not start with \"store: \"", tt.name, tt.err)
		}
	}
}
