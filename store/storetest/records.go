package storetest

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
)

// TestContacts checks Contact, SetContact and DeleteContact.
func TestContacts(t *testing.T, newStore func(t *testing.T) Backend) {
	t.Run("Missing", func(t *testing.T) {
		e := open(t, newStore)
		_, err := e.b.Contact(e.ctx, "+15550000001")
		wantErr(t, "Contact of a phone never set", err, store.ErrNotFound)
	})
	t.Run("SetReplaceDelete", func(t *testing.T) {
		e := open(t, newStore)
		const phone, wa = "+15550000001", "whatsapp:+15550000001"
		want := func(phone, id string) {
			t.Helper()
			got, err := e.b.Contact(e.ctx, phone)
			noErr(t, "Contact("+phone+")", err)
			if got != id {
				t.Fatalf("Contact(%s) = %q, want %q", phone, got, id)
			}
		}
		noErr(t, "SetContact", e.b.SetContact(e.ctx, phone, "contact-1"))
		want(phone, "contact-1")
		noErr(t, "SetContact (replace)", e.b.SetContact(e.ctx, phone, "contact-2"))
		want(phone, "contact-2")
		noErr(t, "SetContact (whatsapp)", e.b.SetContact(e.ctx, wa, "contact-3"))
		want(wa, "contact-3")
		want(phone, "contact-2")
		_, err := e.b.Contact(e.ctx, "+15550000002")
		wantErr(t, "Contact of another phone", err, store.ErrNotFound)

		noErr(t, "DeleteContact", e.b.DeleteContact(e.ctx, phone))
		_, err = e.b.Contact(e.ctx, phone)
		wantErr(t, "Contact after DeleteContact", err, store.ErrNotFound)
		want(wa, "contact-3")
		noErr(t, "DeleteContact again", e.b.DeleteContact(e.ctx, phone))
		noErr(t, "DeleteContact of a phone never set", e.b.DeleteContact(e.ctx, "+15550000009"))
	})
}

// TestThreads checks Thread, PutThread, DeleteThread and
// ThreadByConversation, including that conversation mappings outlive the
// thread's current conversation.
func TestThreads(t *testing.T, newStore func(t *testing.T) Backend) {
	key := store.ThreadKey{Customer: "+15550000001", Sender: "+15559990000"}
	last := time.Date(2024, 5, 6, 7, 8, 9, 123_000_000, time.UTC)
	// stateAt has a microsecond part and a nanosecond part: stores keep it
	// to the microsecond at least.
	stateAt := time.Date(2024, 5, 6, 7, 0, 1, 654_321_987, time.UTC)
	checkThread := func(t *testing.T, e *env, want store.Thread) {
		t.Helper()
		got, err := e.b.Thread(e.ctx, want.Key)
		noErr(t, "Thread", err)
		if got.Key != want.Key || got.ContactID != want.ContactID ||
			got.ConversationID != want.ConversationID || got.State != want.State ||
			!got.LastInbound.Equal(want.LastInbound) || !sameMicro(got.StateAt, want.StateAt) {
			t.Fatalf("Thread(%v) = %+v, want %+v", want.Key, got, want)
		}
	}
	checkConv := func(t *testing.T, e *env, conv string, want store.ThreadKey) {
		t.Helper()
		got, err := e.b.ThreadByConversation(e.ctx, conv)
		noErr(t, "ThreadByConversation("+conv+")", err)
		if got != want {
			t.Fatalf("ThreadByConversation(%s) = %v, want %v", conv, got, want)
		}
	}

	t.Run("Missing", func(t *testing.T) {
		e := open(t, newStore)
		_, err := e.b.Thread(e.ctx, key)
		wantErr(t, "Thread never put", err, store.ErrNotFound)
		_, err = e.b.ThreadByConversation(e.ctx, "conv-1")
		wantErr(t, "ThreadByConversation of an unknown conversation", err, store.ErrNotFound)
	})
	t.Run("RoundTrip", func(t *testing.T) {
		e := open(t, newStore)
		th := store.Thread{Key: key, ContactID: "contact-1", ConversationID: "conv-1", State: store.StateOpen, StateAt: stateAt, LastInbound: last}
		noErr(t, "PutThread", e.b.PutThread(e.ctx, th))
		checkThread(t, e, th)
		checkConv(t, e, "conv-1", key)
	})
	t.Run("StateAtToTheMicrosecond", func(t *testing.T) {
		// Two changes a microsecond apart come back in order: a late
		// notification a microsecond older than the stored change is
		// recognised as older.
		e := open(t, newStore)
		th := store.Thread{Key: key, ConversationID: "conv-1", State: store.StateClosed, StateAt: stateAt}
		noErr(t, "PutThread", e.b.PutThread(e.ctx, th))
		first, err := e.b.Thread(e.ctx, key)
		noErr(t, "Thread", err)
		th.State, th.StateAt = store.StateOpen, stateAt.Add(time.Microsecond)
		noErr(t, "PutThread a microsecond later", e.b.PutThread(e.ctx, th))
		second, err := e.b.Thread(e.ctx, key)
		noErr(t, "Thread", err)
		if !first.StateAt.Before(second.StateAt) {
			t.Fatalf("StateAt of changes a microsecond apart came back as %v and %v, want the first before the second",
				first.StateAt, second.StateAt)
		}
		checkThread(t, e, th)
	})
	t.Run("ZeroLastInboundAndNoContact", func(t *testing.T) {
		e := open(t, newStore)
		th := store.Thread{Key: key, ConversationID: "conv-1", State: store.StateClosed}
		noErr(t, "PutThread", e.b.PutThread(e.ctx, th))
		got, err := e.b.Thread(e.ctx, key)
		noErr(t, "Thread", err)
		if !got.LastInbound.IsZero() || !got.StateAt.IsZero() || got.ContactID != "" || got.State != store.StateClosed {
			t.Fatalf("Thread = %+v, want zero LastInbound and StateAt, no contact, closed", got)
		}
		// A StateAt that was known and then is not replaces the old one.
		th.StateAt = stateAt
		noErr(t, "PutThread with StateAt", e.b.PutThread(e.ctx, th))
		th.StateAt = time.Time{}
		noErr(t, "PutThread without StateAt", e.b.PutThread(e.ctx, th))
		checkThread(t, e, th)
	})
	t.Run("ReplaceKeepsOldConversations", func(t *testing.T) {
		e := open(t, newStore)
		first := store.Thread{Key: key, ContactID: "contact-1", ConversationID: "conv-1", State: store.StateOpen, StateAt: stateAt, LastInbound: last}
		second := store.Thread{Key: key, ContactID: "contact-1", ConversationID: "conv-2", State: store.StateClosed, StateAt: stateAt.Add(time.Hour), LastInbound: last.Add(time.Hour)}
		noErr(t, "PutThread first", e.b.PutThread(e.ctx, first))
		noErr(t, "PutThread second", e.b.PutThread(e.ctx, second))
		checkThread(t, e, second)
		checkConv(t, e, "conv-1", key)
		checkConv(t, e, "conv-2", key)
	})
	t.Run("KeysAreDistinct", func(t *testing.T) {
		e := open(t, newStore)
		other := store.ThreadKey{Customer: key.Customer, Sender: "+15559990001"}
		swapped := store.ThreadKey{Customer: key.Sender, Sender: key.Customer}
		a := store.Thread{Key: key, ConversationID: "conv-a", State: store.StateOpen, LastInbound: last}
		b := store.Thread{Key: other, ConversationID: "conv-b", State: store.StateClosed, LastInbound: last}
		noErr(t, "PutThread a", e.b.PutThread(e.ctx, a))
		noErr(t, "PutThread b", e.b.PutThread(e.ctx, b))
		checkThread(t, e, a)
		checkThread(t, e, b)
		_, err := e.b.Thread(e.ctx, swapped)
		wantErr(t, "Thread with customer and sender swapped", err, store.ErrNotFound)
	})
	t.Run("ConversationMovesToAnotherKey", func(t *testing.T) {
		e := open(t, newStore)
		other := store.ThreadKey{Customer: "+15550000002", Sender: key.Sender}
		noErr(t, "PutThread", e.b.PutThread(e.ctx, store.Thread{Key: key, ConversationID: "conv-1", State: store.StateOpen}))
		noErr(t, "PutThread", e.b.PutThread(e.ctx, store.Thread{Key: other, ConversationID: "conv-1", State: store.StateOpen}))
		checkConv(t, e, "conv-1", other)
	})
	t.Run("DeleteKeepsConversations", func(t *testing.T) {
		e := open(t, newStore)
		th := store.Thread{Key: key, ConversationID: "conv-1", State: store.StateOpen, LastInbound: last}
		noErr(t, "PutThread", e.b.PutThread(e.ctx, th))
		noErr(t, "DeleteThread", e.b.DeleteThread(e.ctx, key))
		_, err := e.b.Thread(e.ctx, key)
		wantErr(t, "Thread after DeleteThread", err, store.ErrNotFound)
		checkConv(t, e, "conv-1", key)
		noErr(t, "DeleteThread again", e.b.DeleteThread(e.ctx, key))
		noErr(t, "PutThread after delete", e.b.PutThread(e.ctx, th))
		checkThread(t, e, th)
	})
}

// TestMessages checks PutMessage, Message and AdvanceMessageStatus with its
// rank rules, and that AdvanceMessageStatus keeps Started.
func TestMessages(t *testing.T, newStore func(t *testing.T) Backend) {
	key := store.ThreadKey{Customer: "+15550000001", Sender: "+15559990000"}
	msg := store.Message{SID: "SM00000000000000000000000000000001", ConversationID: "conv-1", PartID: "part-1", Thread: key, Status: "queued"}

	t.Run("Missing", func(t *testing.T) {
		e := open(t, newStore)
		_, err := e.b.Message(e.ctx, msg.SID)
		wantErr(t, "Message never put", err, store.ErrNotFound)
		_, _, err = e.b.AdvanceMessageStatus(e.ctx, msg.SID, "sent", 0)
		wantErr(t, "AdvanceMessageStatus of an unknown SID", err, store.ErrNotFound)
	})
	t.Run("PutReplace", func(t *testing.T) {
		e := open(t, newStore)
		noErr(t, "PutMessage", e.b.PutMessage(e.ctx, msg))
		got, err := e.b.Message(e.ctx, msg.SID)
		noErr(t, "Message", err)
		if got != msg {
			t.Fatalf("Message = %+v, want %+v", got, msg)
		}
		replaced := store.Message{SID: msg.SID, ConversationID: "conv-2", Status: "failed", ErrorCode: 30003}
		noErr(t, "PutMessage (replace)", e.b.PutMessage(e.ctx, replaced))
		got, err = e.b.Message(e.ctx, msg.SID)
		noErr(t, "Message", err)
		if got != replaced {
			t.Fatalf("Message after replace = %+v, want %+v", got, replaced)
		}
	})
	t.Run("Started", func(t *testing.T) {
		e := open(t, newStore)
		in := store.Message{SID: "SM00000000000000000000000000000002", ConversationID: "conv-1", Thread: key, Status: "received", Started: true}
		noErr(t, "PutMessage", e.b.PutMessage(e.ctx, in))
		got, err := e.b.Message(e.ctx, in.SID)
		noErr(t, "Message", err)
		if got != in {
			t.Fatalf("Message = %+v, want %+v", got, in)
		}
		in.Started = false
		noErr(t, "PutMessage (replace, not started)", e.b.PutMessage(e.ctx, in))
		got, err = e.b.Message(e.ctx, in.SID)
		noErr(t, "Message", err)
		if got != in {
			t.Fatalf("Message after replace = %+v, want %+v", got, in)
		}
	})

	type step struct {
		status      string
		code        int
		wantStatus  string
		wantCode    int
		wantChanged bool
	}
	sequences := []struct {
		name  string
		start string
		steps []step
	}{
		{"Forward", "queued", []step{
			{"sending", 0, "sending", 0, true},
			{"sent", 0, "sent", 0, true},
			{"delivered", 0, "delivered", 0, true},
			{"read", 0, "read", 0, true},
		}},
		{"LateCallbacksDoNotDowngrade", "queued", []step{
			{"delivered", 0, "delivered", 0, true},
			{"sent", 0, "delivered", 0, false},
			{"sending", 0, "delivered", 0, false},
			{"queued", 0, "delivered", 0, false},
		}},
		{"FailedAfterSentUpgrades", "sent", []step{
			{"failed", 30003, "failed", 30003, true},
			{"sent", 0, "failed", 30003, false},
		}},
		{"FirstFinalStatusStays", "sent", []step{
			{"undelivered", 30005, "undelivered", 30005, true},
			{"delivered", 0, "undelivered", 30005, false},
			{"failed", 30008, "undelivered", 30005, false},
		}},
		{"UnknownStatusIsIgnored", "sending", []step{
			{"bogus", 0, "sending", 0, false},
			{"sent", 0, "sent", 0, true},
		}},
		{"FromEmptyStatus", "", []step{
			{"bogus", 0, "", 0, false},
			{"accepted", 0, "accepted", 0, true},
			{"queued", 0, "accepted", 0, false},
		}},
	}
	for i, seq := range sequences {
		t.Run("Advance/"+seq.name, func(t *testing.T) {
			e := open(t, newStore)
			m := msg
			m.Status = seq.start
			m.Started = i%2 == 0 // kept either way
			noErr(t, "PutMessage", e.b.PutMessage(e.ctx, m))
			for i, s := range seq.steps {
				got, changed, err := e.b.AdvanceMessageStatus(e.ctx, m.SID, s.status, s.code)
				noErr(t, fmt.Sprintf("step %d: AdvanceMessageStatus(%q)", i, s.status), err)
				want := m
				want.Status, want.ErrorCode = s.wantStatus, s.wantCode
				if got != want || changed != s.wantChanged {
					t.Fatalf("step %d: AdvanceMessageStatus(%q, %d) = %+v, %v; want %+v, %v",
						i, s.status, s.code, got, changed, want, s.wantChanged)
				}
				stored, err := e.b.Message(e.ctx, m.SID)
				noErr(t, "Message", err)
				if stored != want {
					t.Fatalf("step %d: Message = %+v, want %+v", i, stored, want)
				}
			}
		})
	}

	t.Run("AdvanceConcurrently", func(t *testing.T) {
		e := open(t, newStore)
		msg := msg
		msg.Started = true
		noErr(t, "PutMessage", e.b.PutMessage(e.ctx, msg))
		statuses := []string{"sending", "sent", "delivered", "queued", "sending", "sent", "delivered", "sent"}
		rand.Shuffle(len(statuses), func(i, j int) { statuses[i], statuses[j] = statuses[j], statuses[i] })
		var wg sync.WaitGroup
		var mu sync.Mutex
		changes := 0
		for _, status := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, changed, err := e.b.AdvanceMessageStatus(e.ctx, msg.SID, status, 0)
				if err != nil {
					t.Errorf("AdvanceMessageStatus(%q): %v", status, err)
					return
				}
				if store.StatusRank(got.Status) < store.StatusRank(status) {
					t.Errorf("AdvanceMessageStatus(%q) left status %q, which ranks lower", status, got.Status)
				}
				if changed {
					mu.Lock()
					changes++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		got, err := e.b.Message(e.ctx, msg.SID)
		noErr(t, "Message", err)
		if got.Status != "delivered" || !got.Started {
			t.Fatalf("message after concurrent advances = %+v, want status delivered, Started kept", got)
		}
		if changes < 1 || changes > 3 {
			t.Fatalf("%d advances reported a change, want between 1 and 3 (queued→sending→sent→delivered)", changes)
		}
	})
}

// TestMarkers checks Mark and Marked.
func TestMarkers(t *testing.T, newStore func(t *testing.T) Backend) {
	t.Run("MarkAndCheck", func(t *testing.T) {
		e := open(t, newStore)
		marked := func(marker string, want bool) {
			t.Helper()
			got, err := e.b.Marked(e.ctx, marker)
			noErr(t, "Marked("+marker+")", err)
			if got != want {
				t.Fatalf("Marked(%s) = %v, want %v", marker, got, want)
			}
		}
		marked("part:1", false)
		noErr(t, "Mark", e.b.Mark(e.ctx, "part:1"))
		marked("part:1", true)
		marked("part:2", false)
		marked("PART:1", false)
		noErr(t, "Mark again", e.b.Mark(e.ctx, "part:1"))
		marked("part:1", true)
		noErr(t, "Mark another", e.b.Mark(e.ctx, "note:conv-1|outcome unknown"))
		marked("note:conv-1|outcome unknown", true)
	})
}

// TestParts is the former name of [TestMarkers].
//
// Deprecated: use TestMarkers.
func TestParts(t *testing.T, newStore func(t *testing.T) Backend) { TestMarkers(t, newStore) }

// TestOptOuts checks SetOptedOut and OptedOut.
func TestOptOuts(t *testing.T, newStore func(t *testing.T) Backend) {
	t.Run("SetAndClear", func(t *testing.T) {
		e := open(t, newStore)
		key := store.ThreadKey{Customer: "+15550000001", Sender: "+15559990000"}
		other := store.ThreadKey{Customer: key.Customer, Sender: "+15559990001"}
		optedOut := func(k store.ThreadKey, want bool) {
			t.Helper()
			got, err := e.b.OptedOut(e.ctx, k)
			noErr(t, "OptedOut", err)
			if got != want {
				t.Fatalf("OptedOut(%v) = %v, want %v", k, got, want)
			}
		}
		optedOut(key, false)
		noErr(t, "SetOptedOut false on an unknown address", e.b.SetOptedOut(e.ctx, key, false))
		optedOut(key, false)
		noErr(t, "SetOptedOut true", e.b.SetOptedOut(e.ctx, key, true))
		optedOut(key, true)
		optedOut(other, false)
		noErr(t, "SetOptedOut true again", e.b.SetOptedOut(e.ctx, key, true))
		optedOut(key, true)
		noErr(t, "SetOptedOut false", e.b.SetOptedOut(e.ctx, key, false))
		optedOut(key, false)
	})
}

// TestSeen checks MarkSeen and its TTL.
func TestSeen(t *testing.T, newStore func(t *testing.T) Backend) {
	mark := func(t *testing.T, e *env, key string, ttl time.Duration, want bool) {
		t.Helper()
		got, err := e.b.MarkSeen(e.ctx, key, ttl)
		noErr(t, "MarkSeen("+key+")", err)
		if got != want {
			t.Fatalf("MarkSeen(%q, %v) = %v, want %v", key, ttl, got, want)
		}
	}
	t.Run("NewThenSeen", func(t *testing.T) {
		e := open(t, newStore)
		mark(t, e, "a", longTTL, true)
		mark(t, e, "a", longTTL, false)
		mark(t, e, "a", longTTL, false)
		mark(t, e, "b", longTTL, true)
		mark(t, e, "A", longTTL, true)
	})
	t.Run("Expires", func(t *testing.T) {
		e := open(t, newStore)
		mark(t, e, "short", shortTTL, true)
		mark(t, e, "long", longTTL, true)
		mark(t, e, "short", shortTTL, false)
		time.Sleep(shortTTL + 300*time.Millisecond)
		mark(t, e, "short", shortTTL, true)
		mark(t, e, "long", longTTL, false)
	})
	t.Run("TinyTTL", func(t *testing.T) {
		// A positive TTL below the backend's resolution is rounded up,
		// not rejected.
		e := open(t, newStore)
		mark(t, e, "tiny", time.Microsecond, true)
		time.Sleep(100 * time.Millisecond)
		mark(t, e, "tiny", time.Microsecond, true)
	})
	t.Run("Concurrent", func(t *testing.T) {
		e := open(t, newStore)
		const n = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		news := 0
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				isNew, err := e.b.MarkSeen(e.ctx, "race", longTTL)
				if err != nil {
					t.Errorf("MarkSeen: %v", err)
					return
				}
				if isNew {
					mu.Lock()
					news++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if news != 1 {
			t.Fatalf("%d of %d concurrent MarkSeen calls of one key reported it new, want exactly 1", news, n)
		}
	})
}

// sameMicro reports whether a and b are both zero or both set and less
// than a microsecond apart.
func sameMicro(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	return a.Sub(b).Abs() < time.Microsecond
}
