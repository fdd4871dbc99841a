package relay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
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
)

// hungExtend is a store whose connection went silent for lease extensions:
// Extend never answers, whatever its context says, until release is closed.
type hungExtend struct {
	*memstore.Store
	release chan struct{}
}

func (h hungExtend) Extend(ctx context.Context, j store.Job, lease time.Duration) error {
	<-h.release
	return h.Store.Extend(ctx, j, lease)
}

// A lease extension that hangs must not keep a job running past its lease:
// another worker claims the job when the lease lapses, and the two must
// not both send the reply.
func TestHungLeaseExtensionStopsTheJob(t *testing.T) {
	he := hungExtend{Store: memstore.New(), release: make(chan struct{})}
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.Store, c.Queue = he, he
		c.Lease = 150 * time.Millisecond
		c.Workers = 2
	})
	h.text(customer, "Hello")
	h.drain()
	h.tw.SetLatency(500 * time.Millisecond)
	h.reply(h.onlyConversation().ID, "Your parcel ships today")
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	// Unblock the hung calls a while after the run, so that a relay that
	// waits for them still returns.
	go func() { time.Sleep(2500 * time.Millisecond); close(he.release) }()
	_ = h.r.Run(ctx)
	if n := len(h.sent()); n > 1 {
		t.Fatalf("customer received %d texts: a worker stuck extending its lease kept sending", n)
	}
	// Once the store answers again, the reply goes out, once.
	<-he.release
	h.tw.SetLatency(0)
	h.drain()
	if n := len(h.sent()); n != 1 {
		t.Fatalf("customer received %d texts once the store answered again, want 1", n)
	}
}

// alwaysLost makes every Send that Twilio accepts look like a timeout.
type alwaysLost struct{ *twiliosms.Client }

func (l alwaysLost) Send(ctx context.Context, m twiliosms.Message) (*twiliosms.Sent, error) {
	if _, err := l.Client.Send(ctx, m); err != nil {
		return nil, err
	}
	return nil, context.DeadlineExceeded
}

// A reply whose only attempt timed out after Twilio accepted it is
// dead-lettered; replaying it must look in Twilio's list first, not text
// the customer again.
func TestReplayedReplyLooksBeforeSendingAgain(t *testing.T) {
	var lost *alwaysLost
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.MaxAttempts = 1
		lost = &alwaysLost{c.Twilio.(*twiliosms.Client)}
		c.Twilio = lost
	})
	h.text(customer, "Hello")
	h.drain()
	h.reply(h.onlyConversation().ID, "Your parcel ships today")
	h.drain()
	dl, err := h.r.DeadLetters(context.Background(), 10)
	if err != nil || len(dl) != 1 {
		t.Fatalf("dead letters = %d (%v), want the reply's job", len(dl), err)
	}
	if err := h.r.Replay(context.Background(), dl[0].ID); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if n := len(h.sent()); n != 1 {
		t.Fatalf("customer received %d texts, want 1: the replayed job sent again without looking", n)
	}
}

// Intercom started the conversation but its answer was lost (502), and the
// search that would find it keeps failing for a while; meanwhile an agent
// answers on that conversation. The reply must wait for the conversation to
// be recorded and then go out, not be dropped after a few looks.
func TestReplyOnAnUnconfirmedStartIsNotDropped(t *testing.T) {
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.MaxAttempts = 10000 })
	if err := h.ic.Fail("POST", "/conversations", intercomtest.Fault{Status: 502, Commit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	if err := h.ic.Fail("POST", "/conversations/search", intercomtest.Fault{Status: 500}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "Hello, is anyone there?")
	if ran, err := h.r.RunOnce(context.Background()); !ran || err != nil {
		t.Fatalf("RunOnce = %v, %v", ran, err)
	}
	conv := h.onlyConversation()
	h.reply(conv.ID, "Yes, we are here")
	// Both jobs run for a while: the text's search fails, the reply looks
	// again and again.
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		if ran, _ := h.r.RunOnce(context.Background()); !ran {
			time.Sleep(2 * time.Millisecond)
		}
	}
	h.ic.ClearFaults()
	h.drain()
	if n := len(h.ic.Conversations()); n != 1 {
		t.Fatalf("Intercom holds %d conversations, want 1", n)
	}
	if msgs := h.sent(); len(msgs) != 1 {
		t.Fatalf("the reply reached the phone %d times, want 1", len(msgs))
	}
}

// When the search never finds the conversation an unsure start made, the
// relay starts a second one; a reply on the first then ends as a dead
// letter with a note, not dropped in silence.
func TestReplyOnANeverConfirmedStartIsDeadLetteredWithANote(t *testing.T) {
	h := newHarness(t, []intercomtest.Option{intercomtest.WithSearchLag(time.Hour)},
		func(c *relay.Config, _ *intercomtest.Server) { c.MaxAttempts = 8 })
	if err := h.ic.Fail("POST", "/conversations", intercomtest.Fault{Status: 502, Commit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "Hello, is anyone there?")
	if ran, err := h.r.RunOnce(context.Background()); !ran || err != nil {
		t.Fatalf("RunOnce = %v, %v", ran, err)
	}
	first := h.onlyConversation()
	h.reply(first.ID, "Yes, we are here")
	h.drain()
	if n := len(h.ic.Conversations()); n != 2 {
		t.Fatalf("Intercom holds %d conversations, want 2 (the search never found the first)", n)
	}
	if n := len(h.sent()); n != 0 {
		t.Fatalf("sent %d texts for a conversation that is not the customer's thread", n)
	}
	dl, err := h.r.DeadLetters(context.Background(), 10)
	if err != nil || len(dl) != 1 {
		t.Fatalf("dead letters = %d (%v), want the reply's job", len(dl), err)
	}
	if n := notes(h.conversation(first.ID)); len(n) != 1 || !strings.Contains(n[0], "could not be sent by SMS") {
		t.Fatalf("notes on the first conversation = %q, want one saying the reply was not sent", n)
	}
}

// stateItem is a conversation as a close or open notification carries it.
func stateItem(id, state string, createdAt, updatedAt time.Time) []byte {
	return fmt.Appendf(nil, `{"type":"conversation","id":%q,"state":%q,"open":%t,"created_at":%d,"updated_at":%d,`+
		`"conversation_parts":{"type":"conversation_part.list","conversation_parts":[],"total_count":0}}`,
		id, state, state == "open", createdAt.Unix(), updatedAt.Unix())
}

// The first delivery of "closed" fails, "opened" arrives, then Intercom
// redelivers the old "closed": the thread must stay open, so the
// customer's next text lands on the same conversation.
func TestLateCloseDoesNotOverrideALaterReopen(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.text(customer, "Hello")
	h.drain()
	c := h.onlyConversation()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer broken.Close()
	ctx := context.Background()
	now := time.Now()
	closeID, st, _ := h.ic.SendNotification(ctx, broken.URL, intercom.TopicAdminClosed, stateItem(c.ID, "closed", c.CreatedAt, now.Add(time.Second)))
	if st != http.StatusInternalServerError {
		t.Fatalf("the broken receiver answered the close with %d", st)
	}
	if _, st, err := h.ic.SendNotification(ctx, h.webhookURL(), intercom.TopicAdminOpened, stateItem(c.ID, "open", c.CreatedAt, now.Add(2*time.Second))); err != nil || st != http.StatusOK {
		t.Fatalf("open notification: %d %v", st, err)
	}
	h.drain()
	if st, err := h.ic.Redeliver(ctx, h.webhookURL(), closeID); err != nil || st != http.StatusOK {
		t.Fatalf("redelivered close: %d %v", st, err)
	}
	h.drain()
	h.text(customer, "Still there?")
	h.drain()
	if n := len(h.ic.Conversations()); n != 1 {
		t.Fatalf("Intercom holds %d conversations, want 1: a late close marked the re-opened thread closed", n)
	}
}

// slowAnswer is a Twilio client whose first accepted text's answer does not
// come back before the caller gives up, as when shutdown cuts a request off
// in flight.
type slowAnswer struct {
	*twiliosms.Client
	once atomic.Bool
}

func (s *slowAnswer) Send(ctx context.Context, m twiliosms.Message) (*twiliosms.Sent, error) {
	sent, err := s.Client.Send(ctx, m)
	if err == nil && s.once.CompareAndSwap(false, true) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return sent, err
}

// Shutdown past the drain timeout cuts a send off after Twilio accepted it:
// the job runs again later, and must find the text instead of sending it
// twice, although the cancellation that cut it off also ended its context.
func TestSendCutOffByShutdownIsNotRepeated(t *testing.T) {
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.Twilio = &slowAnswer{Client: c.Twilio.(*twiliosms.Client)}
		c.DrainTimeout = 50 * time.Millisecond
		c.Lease = 300 * time.Millisecond
	})
	h.text(customer, "Hello")
	h.drain()
	h.reply(h.onlyConversation().ID, "Your parcel ships today")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.r.Run(ctx) }()
	for len(h.sent()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	h.drain() // the job runs again once its lease lapses
	if n := len(h.sent()); n != 1 {
		t.Fatalf("customer received %d texts, want 1", n)
	}
}

// Nothing the relay logs carries a full phone number or a message body,
// whatever path the value takes: vendor error messages that quote the
// number, request URLs in transport errors, numbers that do not normalise.
func TestLogsCarryNoNumberAndNoBody(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&syncWriter{w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.Logger = logger
		c.Twilio = brokenList{c.Twilio.(*twiliosms.Client)}
	})
	const secretWords = "PINEAPPLE-ORDER-SECRET"
	h.text(customer, "Hello "+secretWords)
	h.drain()
	c := h.onlyConversation()
	h.tw.Fail(twiliotest.Fault{Code: 21211, Message: "The 'To' number " + customer + " is not a valid phone number."})
	h.reply(c.ID, "First "+secretWords)
	h.drain()
	h.tw.FailNext(20500, 500) // unsure: the retry reads the (broken) message list
	h.reply(c.ID, "Second "+secretWords)
	h.drain()
	h.textForm(twiliotest.InboundForm("0041 79 555 01 23", ourNumber, "odd number "+secretWords))
	h.drain()
	logs := buf.String()
	if !strings.Contains(logs, "relay:") {
		t.Fatal("nothing was logged; the test proves nothing")
	}
	for _, leak := range []string{strings.TrimPrefix(customer, "+"), "79 555 01 23", "795550123", secretWords} {
		if strings.Contains(logs, leak) {
			i := strings.Index(logs, leak)
			t.Errorf("logs carry %q: ...%s...", leak, logs[max(0, i-200):min(len(logs), i+100)])
		}
	}
}

// brokenList is a Twilio client whose message list fails with the request
// URL in its error, as a transport error does.
type brokenList struct{ *twiliosms.Client }

func (brokenList) Recent(_ context.Context, to string, _ time.Time) ([]twiliosms.Record, error) {
	return nil, &url.Error{Op: "Get", URL: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?To=" + url.QueryEscape(to), Err: errors.New("connection reset by peer")}
}

// syncWriter serialises writes from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Shutdown past the drain timeout cuts off the request that starts a
// conversation after Intercom applied it: the job runs again later, and
// must find the conversation instead of starting a second one.
func TestStartCutOffByShutdownIsNotRepeated(t *testing.T) {
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.DrainTimeout = 50 * time.Millisecond
		c.Lease = 300 * time.Millisecond
	})
	if err := h.ic.Fail("POST", "/conversations", intercomtest.Fault{Commit: true, Hang: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "Hello, is anyone there?")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.r.Run(ctx) }()
	for len(h.ic.Conversations()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	h.drain() // the job runs again once its lease lapses
	if n := len(h.ic.Conversations()); n != 1 {
		t.Fatalf("Intercom holds %d conversations, want 1", n)
	}
	h.reply(h.onlyConversation().ID, "Yes, we are here")
	h.drain()
	if n := len(h.sent()); n != 1 {
		t.Fatalf("the reply reached the phone %d times, want 1", n)
	}
}
