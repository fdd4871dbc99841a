package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
	twilioclient "github.com/twilio/twilio-go/client"
)

// an admin's "close with a message" (part_type "close" with a body, as
// the spec's manageConversation example) never reaches the phone.
func TestAdminMessagesOnCloseAndAssignReachThePhone(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.text(customer, "Where is my refund?")
	h.drain()
	c := h.onlyConversation()
	c.State = "closed"
	c.Parts = []intercomtest.Part{{
		ID: "9001", PartType: "close", Body: "Refund issued today. Goodbye!",
		Author:    intercomtest.Author{Type: "admin", ID: adminID},
		CreatedAt: time.Now(),
	}}
	if _, st, err := h.ic.SendNotification(context.Background(), h.webhookURL(), "conversation.admin.closed", c); err != nil || st != 200 {
		t.Fatal(st, err)
	}
	// Same for an assignment carrying a reply body.
	c.State = "open"
	c.Parts = []intercomtest.Part{{
		ID: "9002", PartType: "assignment", Body: "Passing you to billing, they will text you.",
		Author:    intercomtest.Author{Type: "admin", ID: adminID},
		CreatedAt: time.Now(),
	}}
	if _, st, err := h.ic.SendNotification(context.Background(), h.webhookURL(), "conversation.admin.assigned", c); err != nil || st != 200 {
		t.Fatal(st, err)
	}
	h.drain()
	if n := len(h.sent()); n != 2 {
		t.Fatalf("admin close/assign messages: %d texts sent, want 2", n)
	}
}

// a verified notification without an id gets DedupeKey
// "intercom:notification:" — every later id-less notification is a
// "duplicate" and dropped for DedupeTTL (72h).
func TestNotificationsWithoutIDAreNotDeduplicatedTogether(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.text(customer, "Hello")
	h.drain()
	c := h.onlyConversation()
	post := func(partID, body string) {
		env := map[string]any{
			"type": "notification_event", "topic": "conversation.admin.replied",
			"data": map[string]any{"item": map[string]any{
				"type": "conversation", "id": c.ID, "state": "open",
				"conversation_parts": map[string]any{"conversation_parts": []any{map[string]any{
					"type": "conversation_part", "id": partID, "part_type": "comment", "body": body,
					"created_at": time.Now().Unix(), "author": map[string]any{"type": "admin", "id": adminID},
				}}},
			}},
		}
		b, _ := json.Marshal(env)
		req, _ := http.NewRequest(http.MethodPost, h.webhookURL(), bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature", intercom.Sign(b, h.ic.ClientSecret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatal(resp, err)
		}
		resp.Body.Close()
	}
	post("7001", "first answer")
	post("7002", "second answer")
	h.drain()
	if n := len(h.sent()); n != 2 {
		t.Fatalf("sent %d texts, want 2", n)
	}
}

// an agent reply that arrives while the first text's job is between
// CreateConversation and PutThread (here: PutThread fails once, so the job
// waits for its retry) is acknowledged with 200 and dropped without trace.
type flakyPutThread struct {
	*memstore.Store
	fail atomic.Int32
}

func (f *flakyPutThread) PutThread(ctx context.Context, t store.Thread) error {
	if f.fail.Add(-1) >= 0 {
		return errors.New("store hiccup")
	}
	return f.Store.PutThread(ctx, t)
}

func TestReplyRightAfterTheConversationStartsIsRelayed(t *testing.T) {
	fs := &flakyPutThread{Store: memstore.New()}
	fs.fail.Store(1)
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.Store, c.Queue = fs, fs
		c.RetryBase, c.RetryMax = 200*time.Millisecond, 200*time.Millisecond
	})
	h.text(customer, "Hello")
	if ran, err := h.r.RunOnce(context.Background()); !ran || err != nil {
		t.Fatal(ran, err)
	}
	c := h.onlyConversation() // created in Intercom, visible to agents
	h.reply(c.ID, "Hi, how can I help?")
	time.Sleep(250 * time.Millisecond)
	h.drain()
	if n := len(h.sent()); n != 1 {
		t.Fatalf("sent %d texts, want the agent's reply", n)
	}
}

// "Yes" (an opt-in keyword) answering an agent's question adds an
// "opted back in" note every time, though the customer never opted out;
// on WhatsApp (no carrier STOP handling) "Cancel" silently blocks replies.
func TestOptInKeywordWithoutOptOutChangesNothing(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.text(customer, "Can I change my delivery date?")
	h.drain()
	c := h.onlyConversation()
	h.reply(c.ID, "Sure, shall I move it to Friday?")
	h.drain()
	h.text(customer, "Yes")
	h.drain()
	if ns := notes(h.conversation(c.ID)); len(ns) != 0 {
		t.Errorf("notes = %q, want none (customer never opted out)", ns)
	}
}

// a status callback URL on another origin than PublicURL is accepted by
// New, but every callback then fails signature validation (403).
func TestStatusCallbackURLOnAnotherOrigin(t *testing.T) {
	var statusURL string
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		statusURL = "https://hooks.example.com/relay/twilio/status"
		c.StatusCallbackURL = statusURL
	})
	form := twiliotest.StatusForm("SM"+strings.Repeat("a", 32), "failed", 30007)
	req, err := twiliotest.NewRequest(context.Background(), h.token, statusURL, form)
	if err != nil {
		t.Fatal(err)
	}
	// The proxy forwards to our mux at /twilio/status.
	req.URL, _ = req.URL.Parse(h.srv.URL + "/twilio/status")
	req.Host = req.URL.Host
	st, body, err := twiliotest.Do(h.srv.Client(), req)
	if err != nil {
		t.Fatal(err)
	}
	if st != 200 {
		t.Fatalf("status callback signed for StatusCallbackURL answered %d %q", st, body)
	}
}

// a job interrupted by shutdown on its last attempt is dead-lettered
// (and, for replies, agents are told it failed) instead of being left to
// its lease.
func TestShutdownLeavesALastAttemptToItsLease(t *testing.T) {
	h := newHarness(t, nil, func(c *relay.Config, ic *intercomtest.Server) {
		c.MaxAttempts = 1
		c.DrainTimeout = 50 * time.Millisecond
		_ = ic.Fail("POST", "/contacts/search", intercomtest.Fault{Latency: 2 * time.Second})
	})
	h.text(customer, "Hello")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.r.Run(ctx) }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	dl, _ := h.r.DeadLetters(context.Background(), 10)
	if len(dl) != 0 {
		t.Fatalf("shutdown dead-lettered %d job(s): %q", len(dl), dl[0].LastError)
	}
}

// the heartbeat only logs when Extend fails; the job keeps running
// after its lease is gone, so a second worker runs it too: the reply is
// texted twice.
type noExtend struct{ *memstore.Store }

func (noExtend) Extend(context.Context, store.Job, time.Duration) error {
	return errors.New("redis: i/o timeout")
}

func TestJobStopsWhenItsLeaseCannotBeKept(t *testing.T) {
	ne := noExtend{memstore.New()}
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.Store, c.Queue = ne, ne
		c.Lease = 150 * time.Millisecond
		c.Workers = 2
	})
	h.text(customer, "Hello")
	h.drain()
	h.tw.SetLatency(500 * time.Millisecond)
	h.reply(h.onlyConversation().ID, "Your parcel ships today")
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_ = h.r.Run(ctx)
	// No worker can keep the lease for as long as Twilio takes, so no
	// worker may finish the job; what matters is that two never send it.
	if n := len(h.sent()); n > 1 {
		t.Fatalf("customer received %d texts: two workers ran the job at once", n)
	}
	if s, err := h.r.Stats(context.Background()); err != nil || s.Ready+s.Leased+s.Dead != 1 && len(h.sent()) == 0 {
		t.Errorf("the reply's job is gone without being sent: %+v %v", s, err)
	}
}

// Intercom committed a contact reply but its answer was lost (502): the
// retried job finds the reply instead of posting it again.
func TestLostAnswerDoesNotPostATextTwice(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.text(customer, "Hello")
	h.drain()
	c := h.onlyConversation()
	if err := h.ic.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Status: 502, Commit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "My order is 1234")
	h.drain()
	if got := contactParts(h.conversation(c.ID)); len(got) != 2 {
		t.Fatalf("customer parts = %q, want 2 (no duplicate)", got)
	}
}

// lostAnswer makes the first Send that Twilio accepts look like a timeout.
type lostAnswer struct {
	*twiliosms.Client
	once atomic.Bool
}

func (l *lostAnswer) Send(ctx context.Context, m twiliosms.Message) (*twiliosms.Sent, error) {
	s, err := l.Client.Send(ctx, m)
	if err == nil && l.once.CompareAndSwap(false, true) {
		return nil, context.DeadlineExceeded
	}
	return s, err
}

// Twilio created the text but the answer was lost: the retried job finds
// it in Twilio's message list instead of texting the customer twice.
func TestLostTwilioAnswerDoesNotSendTwice(t *testing.T) {
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.Twilio = &lostAnswer{Client: c.Twilio.(*twiliosms.Client)}
	})
	h.text(customer, "Hello")
	h.drain()
	c := h.onlyConversation()
	h.reply(c.ID, "Your parcel ships today")
	h.reply(c.ID, "Your parcel ships today") // the same words again, a second part
	h.drain()
	if n := len(h.sent()); n != 2 {
		t.Fatalf("customer received %d texts, want 2 (one per part, none twice)", n)
	}
}

// Two photos without a caption have the same text. When the second one's
// reply fails in a way that shows Intercom did nothing (503), its retry must
// post it, not take the first photo's part for it.
func TestRetriedTextIsNotTakenForAnIdenticalEarlierOne(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.text(customer, "Hello")
	h.drain()
	photo := func(u string) {
		h.textForm(twiliotest.InboundForm(customer, ourNumber, "", twiliosms.Media{URL: u, ContentType: "image/jpeg"}))
	}
	photo("https://api.twilio.com/media/one.jpg")
	h.drain()
	if err := h.ic.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Status: 503, Times: 2}); err != nil {
		t.Fatal(err)
	}
	photo("https://api.twilio.com/media/two.jpg")
	h.drain()
	c := h.onlyConversation()
	got := contactParts(c)
	if len(got) != 3 {
		t.Fatalf("customer's parts in Intercom = %q, want 3 (hello + two photos): the second photo was lost", got)
	}
}

// The same with words: "ok" twice.
func TestRetriedRepeatedWordIsNotLost(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.text(customer, "Hello")
	h.drain()
	h.text(customer, "ok")
	h.drain()
	if err := h.ic.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Status: 503, Times: 2}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "ok")
	h.drain()
	if got := contactParts(h.onlyConversation()); len(got) != 3 {
		t.Fatalf("customer's parts = %q, want 3", got)
	}
}

// An agent reply on a young conversation the relay never carried (a chat
// started minutes ago) is looked at a few times, in case its record is on
// the way, and then dropped: never dead-lettered, never noted, whatever
// MaxAttempts says.
func TestReplyOnAChatConversationIsNeitherDeadLetteredNorNoted(t *testing.T) {
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.MaxAttempts = 3 })
	ct, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Email: "chat@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	conv, err := h.ic.StartConversation(ct.ID, "hi from the messenger")
	if err != nil {
		t.Fatal(err)
	}
	h.reply(conv.ID, "Hello, chat customer")
	h.drain()
	dl, _ := h.r.DeadLetters(context.Background(), 10)
	if n := notes(h.conversation(conv.ID)); len(n) > 0 || len(dl) > 0 {
		t.Fatalf("chat conversation got notes %q and %d dead letters; want none", n, len(dl))
	}
}

// listDenied is a Twilio client that may not list messages.
type listDenied struct{ *twiliosms.Client }

func (listDenied) Recent(context.Context, string, time.Time) ([]twiliosms.Record, error) {
	return nil, fmt.Errorf("twiliosms: listing messages: %w", &twilioclient.TwilioRestError{Status: 403, Code: 20403, Message: "Permission denied"})
}

// A send whose outcome is unknown is looked up in Twilio's message list
// before it is repeated; when that list cannot be read, the reply is sent
// again rather than given up.
func TestUnreadableMessageListDoesNotStopAReply(t *testing.T) {
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.Twilio = listDenied{c.Twilio.(*twiliosms.Client)}
	})
	h.text(customer, "Hello")
	h.drain()
	c := h.onlyConversation()
	h.tw.FailNext(20500, 500)
	h.reply(c.ID, "Your refund is on its way")
	h.drain()
	if len(h.sent()) != 1 {
		t.Fatalf("sent %d texts, want 1; notes: %q", len(h.sent()), notes(h.conversation(c.ID)))
	}
}

// A STOP counts from the moment it arrives, even when its text cannot reach
// Intercom and ends as a dead letter.
func TestStopIsHonouredEvenIfItsTextIsDeadLettered(t *testing.T) {
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.MaxAttempts = 2 })
	h.text(customer, "Hello")
	h.drain()
	c := h.onlyConversation()
	if err := h.ic.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Status: 500}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "STOP")
	h.drain()
	h.ic.ClearFaults()
	h.reply(c.ID, "Are you still there?")
	h.drain()
	if len(h.sent()) != 0 {
		t.Fatalf("texted %q to a customer who sent STOP", h.sent()[0].Body)
	}
}

// Intercom committed the second "ok" but its answer was lost (502); the
// retry finds that part, not the first "ok", which another text became.
func TestUnsureRetryFindsItsOwnPartAmongIdenticalOnes(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.text(customer, "ok")
	h.drain()
	h.text(customer, "ok")
	h.drain()
	if err := h.ic.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Status: 502, Commit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "ok")
	h.drain()
	if got := contactParts(h.onlyConversation()); len(got) != 3 {
		t.Fatalf("customer's parts = %q, want 3: no loss, no duplicate", got)
	}
}

// Intercom started the conversation but the answer was lost (502): the
// retry finds it through the conversation search instead of starting a
// second one.
func TestLostStartAnswerDoesNotStartASecondConversation(t *testing.T) {
	h := newHarness(t, nil, nil)
	if err := h.ic.Fail("POST", "/conversations", intercomtest.Fault{Status: 502, Commit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "Hello, is anyone there?")
	h.drain()
	if n := len(h.ic.Conversations()); n != 1 {
		t.Fatalf("Intercom holds %d conversations, want 1", n)
	}
	c := h.onlyConversation()
	h.reply(c.ID, "Yes, we are here")
	h.drain()
	if msgs := h.sent(); len(msgs) != 1 {
		t.Fatalf("the reply on the conversation reached the phone %d times, want 1", len(msgs))
	}
}
