package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/internal/lateness"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

const customer = "+14155550123"

func TestTwoTextsThreadIntoOneConversation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	h.text(customer, "Hi, my order is late")
	h.drain()
	h.text(customer, "It was order 1234")
	h.drain()

	if n := len(h.ic.Contacts()); n != 1 {
		t.Fatalf("Intercom holds %d contacts, want 1", n)
	}
	contact := h.ic.Contacts()[0]
	if contact.Phone != customer || contact.Role != "lead" {
		t.Errorf("contact = %+v, want a lead with phone %s", contact, customer)
	}
	c := h.onlyConversation()
	got := contactParts(c)
	if len(got) != 2 || !strings.Contains(got[0], "Hi, my order is late") || !strings.Contains(got[1], "It was order 1234") {
		t.Errorf("customer's messages in the conversation = %q", got)
	}
	if len(h.sent()) != 0 {
		t.Errorf("the relay sent %d texts, want none", len(h.sent()))
	}
}

func TestAgentReplyReachesThePhone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	h.text(customer, "Hello?")
	h.drain()
	c := h.onlyConversation()
	h.reply(c.ID, "Hi! Your parcel ships today.")
	h.drain()

	msgs := h.sent()
	if len(msgs) != 1 {
		t.Fatalf("sent %d texts, want 1", len(msgs))
	}
	m := msgs[0]
	if m.To != customer || m.From != ourNumber {
		t.Errorf("text went %s → %s, want %s → %s", m.From, m.To, ourNumber, customer)
	}
	if m.Body != "Hi! Your parcel ships today." {
		t.Errorf("text body = %q", m.Body)
	}
	if m.StatusCallback != h.srv.URL+"/twilio/status" {
		t.Errorf("status callback = %q, want %q", m.StatusCallback, h.srv.URL+"/twilio/status")
	}

	h.reply(c.ID, `<p>Track it <a href="https://example.com/t/1">here</a>.</p>`)
	h.drain()
	if msgs := h.sent(); len(msgs) != 2 || msgs[1].Body != "Track it here (https://example.com/t/1)." {
		t.Errorf("reply with a link was sent as %q", msgs[len(msgs)-1].Body)
	}
}

// Webhooks of apps pinned below API 2.15 carry HTML bodies.
func TestHTMLReplyBecomesPlainText(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	h.text(customer, "Hello?")
	h.drain()
	c := h.onlyConversation()
	item := fmt.Sprintf(`{"type":"conversation","id":%q,"state":"open","open":true,
		"conversation_parts":{"type":"conversation_part.list","total_count":1,"conversation_parts":[
		{"type":"conversation_part","id":"77001","part_type":"comment","created_at":1734537600,
		 "body":"<p>Hi! Your parcel ships <b>today</b>.</p><p>Track it <a href=\"https://example.com/t/1\">here</a> &amp; reply.</p>",
		 "author":{"type":"admin","id":%q,"name":"Ann"},"attachments":[]}]}}`, c.ID, adminID)
	if _, status, err := h.ic.SendNotification(context.Background(), h.webhookURL(), "conversation.admin.replied", json.RawMessage(item)); err != nil || status != 200 {
		t.Fatalf("webhook: %d %v", status, err)
	}
	h.drain()
	msgs := h.sent()
	if len(msgs) != 1 {
		t.Fatalf("sent %d texts, want 1", len(msgs))
	}
	if want := "Hi! Your parcel ships today.\n\nTrack it here (https://example.com/t/1) & reply."; msgs[0].Body != want {
		t.Errorf("text body = %q, want %q", msgs[0].Body, want)
	}
}

func TestNotesBotRepliesAndRedeliveriesSendNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	h.text(customer, "Hello")
	h.drain()
	c := h.onlyConversation()
	ctx := context.Background()

	if _, status, err := h.ic.AdminNote(ctx, h.webhookURL(), c.ID, adminID, "Internal: customer is VIP, do not refund"); err != nil || status != 200 {
		t.Fatalf("note webhook: %d %v", status, err)
	}
	if _, status, err := h.ic.BotReply(ctx, h.webhookURL(), c.ID, "I'm Fin, how can I help?"); err != nil || status != 200 {
		t.Fatalf("bot webhook: %d %v", status, err)
	}
	h.drain()
	if n := len(h.sent()); n != 0 {
		t.Fatalf("a note or bot reply was sent as %d texts", n)
	}

	h.reply(c.ID, "A real answer")
	h.drain()
	// Intercom retries deliveries, and later payloads carry older parts.
	for _, d := range h.ic.Deliveries() {
		if _, err := h.ic.Redeliver(ctx, h.webhookURL(), d.NotificationID); err != nil {
			t.Fatal(err)
		}
	}
	if _, status, err := h.ic.SendNotification(ctx, h.webhookURL(), "conversation.admin.replied", h.conversation(c.ID)); err != nil || status != 200 {
		t.Fatalf("replaying the whole conversation: %d %v", status, err)
	}
	h.drain()
	msgs := h.sent()
	if len(msgs) != 1 || msgs[0].Body != "A real answer" {
		t.Fatalf("sent %d texts (%+v), want exactly the one admin reply", len(msgs), msgs)
	}
}

func TestClosedConversationStartsANewOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	h.text(customer, "First problem")
	h.drain()
	first := h.onlyConversation()
	if _, status, err := h.ic.CloseConversation(context.Background(), h.webhookURL(), first.ID, adminID); err != nil || status != 200 {
		t.Fatalf("close webhook: %d %v", status, err)
	}
	h.drain()
	h.text(customer, "Second problem")
	h.drain()

	convs := h.ic.Conversations()
	if len(convs) != 2 {
		t.Fatalf("Intercom holds %d conversations, want 2", len(convs))
	}
	if got := h.conversation(first.ID); got.State != "closed" {
		t.Errorf("the closed conversation was reopened: state %s", got.State)
	}
	if !strings.Contains(convs[1].Source.Body, "Second problem") {
		t.Errorf("second conversation starts with %q", convs[1].Source.Body)
	}
	// A late agent reply on the old conversation still reaches the customer.
	h.reply(first.ID, "One more thing about the first problem")
	h.drain()
	if msgs := h.sent(); len(msgs) != 1 || msgs[0].To != customer {
		t.Errorf("reply on the old conversation: sent %+v", msgs)
	}
}

func TestReopenOption(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.Reopen = true })
	h.text(customer, "First")
	h.drain()
	c := h.onlyConversation()
	if _, _, err := h.ic.CloseConversation(context.Background(), h.webhookURL(), c.ID, adminID); err != nil {
		t.Fatal(err)
	}
	h.drain()
	h.text(customer, "Back again")
	h.drain()
	c = h.onlyConversation()
	if c.State != "open" {
		t.Errorf("conversation state = %s, want open", c.State)
	}
	if got := contactParts(c); len(got) != 2 {
		t.Errorf("customer parts = %q, want 2", got)
	}
}

func TestIdleTimeoutStartsANewConversation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.IdleTimeout = 50 * time.Millisecond })
	h.text(customer, "First")
	h.drain()
	h.text(customer, "Soon after")
	h.drain()
	time.Sleep(80 * time.Millisecond)
	h.text(customer, "Much later")
	h.drain()
	if n := len(h.ic.Conversations()); n != 2 {
		t.Fatalf("Intercom holds %d conversations, want 2", n)
	}
}

func TestDeletedConversationIsReplaced(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	h.text(customer, "First")
	h.drain()
	old := h.onlyConversation()
	if err := h.ic.DeleteConversation(old.ID); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "Anyone there?")
	h.drain()
	convs := h.ic.Conversations()
	if len(convs) != 1 || convs[0].ID == old.ID || !strings.Contains(convs[0].Source.Body, "Anyone there?") {
		t.Fatalf("conversations after the old one was deleted: %+v", convs)
	}
	if dl, _ := h.r.DeadLetters(context.Background(), 10); len(dl) != 0 {
		t.Errorf("dead letters: %+v", dl)
	}
}

func TestExistingContactIsFoundBySearch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	existing, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Phone: customer, Name: "Ann"})
	if err != nil {
		t.Fatal(err)
	}
	h.text(customer, "Hi, it's Ann")
	h.drain()
	if n := len(h.ic.Contacts()); n != 1 {
		t.Fatalf("Intercom holds %d contacts, want the existing one only", n)
	}
	if c := h.onlyConversation(); len(c.ContactIDs) != 1 || c.ContactIDs[0] != existing.ID {
		t.Errorf("conversation contacts = %v, want [%s]", c.ContactIDs, existing.ID)
	}
}

func TestOptOutStopsRepliesAndTellsTheAgent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	h.text(customer, "Hello")
	h.drain()
	c := h.onlyConversation()
	h.text(customer, "STOP")
	h.drain()
	c = h.conversation(c.ID)
	if got := contactParts(c); len(got) != 2 || !strings.Contains(got[1], "STOP") {
		t.Errorf("the STOP text did not reach the conversation: %q", got)
	}
	if ns := notes(c); len(ns) != 1 || !strings.Contains(ns[0], "opted out") {
		t.Errorf("notes after STOP = %q, want one opt-out note", ns)
	}

	h.reply(c.ID, "Are you still there?")
	h.drain()
	if n := len(h.sent()); n != 0 {
		t.Fatalf("sent %d texts to an opted-out customer", n)
	}
	c = h.conversation(c.ID)
	if ns := notes(c); len(ns) != 2 || !strings.Contains(ns[1], "not sent") {
		t.Errorf("notes after the blocked reply = %q, want a note saying it was not sent", ns)
	}

	h.text(customer, "START")
	h.drain()
	h.reply(c.ID, "Welcome back")
	h.drain()
	if msgs := h.sent(); len(msgs) != 1 || msgs[0].Body != "Welcome back" {
		t.Errorf("after START: sent %+v, want the reply", msgs)
	}
}

func TestOptOutTypeFromAdvancedOptOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	form := twiliotest.InboundForm(customer, ourNumber, "ARRET")
	form.Set("OptOutType", "STOP")
	h.textForm(form)
	h.drain()
	c := h.onlyConversation()
	h.reply(c.ID, "Hello?")
	h.drain()
	if n := len(h.sent()); n != 0 {
		t.Fatalf("sent %d texts after OptOutType=STOP", n)
	}
}

func TestFailedStatusBecomesANoteWithTheCode(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	h.text(customer, "Hello")
	h.drain()
	c := h.onlyConversation()
	h.reply(c.ID, "Hi there")
	h.drain()
	sid := h.sent()[0].SID
	ctx := context.Background()
	for _, st := range []struct {
		status string
		code   int
	}{{"sent", 0}, {"undelivered", 30003}, {"sent", 0}, {"undelivered", 30003}} {
		if status, err := h.tw.SendStatus(ctx, sid, st.status, st.code); err != nil || status != 200 {
			t.Fatalf("status callback %s: %d %v", st.status, status, err)
		}
		h.drain()
	}
	ns := notes(h.conversation(c.ID))
	if len(ns) != 1 {
		t.Fatalf("notes = %q, want exactly one delivery-failure note", ns)
	}
	if !strings.Contains(ns[0], "30003") || !strings.Contains(strings.ToLower(ns[0]), "unreachable") {
		t.Errorf("note %q does not give the code and its meaning", ns[0])
	}
	m, err := h.st.Message(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != "undelivered" || m.ErrorCode != 30003 {
		t.Errorf("stored message = %+v; a late 'sent' must not move it back", m)
	}
}

func TestPermanentSendErrorBecomesANote(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	h.text(customer, "Hello")
	h.drain()
	c := h.onlyConversation()
	h.tw.FailTo(customer, twiliotest.Fault{Code: 21610})
	h.reply(c.ID, "Reply one")
	h.drain()
	ns := notes(h.conversation(c.ID))
	if len(ns) != 1 || !strings.Contains(ns[0], "21610") {
		t.Fatalf("notes = %q, want one note with error 21610", ns)
	}
	if out, err := h.st.OptedOut(context.Background(), store.ThreadKey{Customer: customer, Sender: ourNumber}); err != nil || !out {
		t.Errorf("21610 did not mark the customer opted out (%v, %v)", out, err)
	}
	if dl, _ := h.r.DeadLetters(context.Background(), 10); len(dl) != 0 {
		t.Errorf("a permanent send error was dead-lettered as well: %+v", dl)
	}
}

func TestTransientErrorsAreRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	if err := h.ic.Fail("POST", "/conversations", intercomtest.Fault{Status: 503, Times: 3}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "Hello")
	h.drain()
	c := h.onlyConversation()
	h.tw.FailNext(20429, 429)
	h.tw.FailNext(20500, 500)
	h.reply(c.ID, "Reply")
	h.drain()
	if msgs := h.sent(); len(msgs) != 1 {
		t.Fatalf("sent %d texts, want 1 after transient failures", len(msgs))
	}
	if dl, _ := h.r.DeadLetters(context.Background(), 10); len(dl) != 0 {
		t.Errorf("dead letters: %+v", dl)
	}
}

func TestJobThatKeepsFailingIsDeadLetteredAndReplayable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.MaxAttempts = 3 })
	if err := h.ic.Fail("POST", "/contacts/search", intercomtest.Fault{Status: 500}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "Hello")
	h.drain()
	ctx := context.Background()
	dl, err := h.r.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 1 || dl[0].LastError == "" || dl[0].Attempt != 3 {
		t.Fatalf("dead letters = %+v, want one with its reason after 3 attempts", dl)
	}
	if len(h.ic.Conversations()) != 0 {
		t.Fatal("a conversation exists although every search failed")
	}
	h.ic.ClearFaults()
	if err := h.r.Replay(ctx, dl[0].ID); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if c := h.onlyConversation(); !strings.Contains(c.Source.Body, "Hello") {
		t.Errorf("replayed text produced %q", c.Source.Body)
	}
	if err := h.r.Replay(ctx, dl[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("replaying twice: err = %v, want store.ErrNotFound", err)
	}
}

func TestDeadLetteredReplyIsNotedForAgents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.MaxAttempts = 2 })
	h.text(customer, "Hello")
	h.drain()
	c := h.onlyConversation()
	for i := 0; i < 2; i++ {
		h.tw.FailNext(20500, 500)
	}
	h.reply(c.ID, "This will not make it")
	h.drain()
	if n := len(h.sent()); n != 0 {
		t.Fatalf("sent %d texts", n)
	}
	dl, err := h.r.DeadLetters(context.Background(), 10)
	if err != nil || len(dl) != 1 {
		t.Fatalf("dead letters = %+v, %v; want one", dl, err)
	}
	if ns := notes(h.conversation(c.ID)); len(ns) != 1 || !strings.Contains(ns[0], "could not be sent") || !strings.Contains(ns[0], dl[0].ID) {
		t.Errorf("notes = %q, want one naming dead letter %s", ns, dl[0].ID)
	}
	// Replayed once Twilio is back, the reply goes out.
	if err := h.r.Replay(context.Background(), dl[0].ID); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if msgs := h.sent(); len(msgs) != 1 || msgs[0].Body != "This will not make it" {
		t.Errorf("after replay: sent %+v", msgs)
	}
}

func TestBadRequestsAreRejectedAndNothingIsWritten(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	form := twiliotest.InboundForm(customer, ourNumber, "Hello")
	good := twiliotest.Sign(h.token, h.srv.URL+"/twilio/messages", form)
	icBody := []byte(`{"type":"notification_event","topic":"ping","id":"notif_1","data":{"item":{}}}`)

	tests := []struct {
		name, path, method, contentType, body string
		header                                map[string]string
		want                                  int
	}{
		{"twilio: no signature", "/twilio/messages", "POST", "application/x-www-form-urlencoded", form.Encode(), nil, 401},
		{"twilio: wrong token", "/twilio/messages", "POST", "application/x-www-form-urlencoded", form.Encode(),
			map[string]string{"X-Twilio-Signature": twiliotest.Sign("wrongtoken0123456789", h.srv.URL+"/twilio/messages", form)}, 403},
		{"twilio: signed for another URL", "/twilio/messages", "POST", "application/x-www-form-urlencoded", form.Encode(),
			map[string]string{"X-Twilio-Signature": twiliotest.Sign(h.token, "https://evil.example.com/twilio/messages", form)}, 403},
		{"twilio: body changed after signing", "/twilio/messages", "POST", "application/x-www-form-urlencoded",
			strings.Replace(form.Encode(), "Hello", "Hellx", 1), map[string]string{"X-Twilio-Signature": good}, 403},
		{"twilio: GET", "/twilio/messages", "GET", "", "", nil, 405},
		{"twilio: JSON", "/twilio/messages", "POST", "application/json", "{}", map[string]string{"X-Twilio-Signature": good}, 415},
		{"twilio: too large", "/twilio/messages", "POST", "application/x-www-form-urlencoded", "Body=" + strings.Repeat("a", 2<<20),
			map[string]string{"X-Twilio-Signature": good}, 413},
		{"status: no signature", "/twilio/status", "POST", "application/x-www-form-urlencoded", "MessageSid=SM1&MessageStatus=failed", nil, 401},
		{"intercom: no signature", "/intercom/webhooks", "POST", "application/json", string(icBody), nil, 401},
		{"intercom: wrong secret", "/intercom/webhooks", "POST", "application/json", string(icBody),
			map[string]string{"X-Hub-Signature": intercomtest.Sign(icBody, "not-the-secret")}, 403},
		{"intercom: form body", "/intercom/webhooks", "POST", "application/x-www-form-urlencoded", "a=b", nil, 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, h.srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if strings.Contains(buf.String(), "sha1=") || strings.Contains(buf.String(), "twiliosms:") || strings.Contains(buf.String(), "intercom:") {
				t.Errorf("response body leaks internals: %q", buf.String())
			}
		})
	}
	s, err := h.r.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s != (store.Stats{}) {
		t.Errorf("rejected requests left jobs behind: %+v", s)
	}
}

func TestDuplicateDeliveriesAreAcknowledgedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	form := h.text(customer, "Only once")
	h.textForm(form)
	h.drain()
	h.textForm(form)
	h.drain()
	if got := contactParts(h.onlyConversation()); len(got) != 1 {
		t.Errorf("a text delivered three times appears %d times", len(got))
	}
}

func TestPingAndOtherTopicsAreAcknowledged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	if status, err := h.ic.Ping(ctx, h.webhookURL()); err != nil || status != 200 {
		t.Fatalf("ping answered %d %v, want 200", status, err)
	}
	if _, status, err := h.ic.SendNotification(ctx, h.webhookURL(), "contact.user.created", map[string]any{"type": "contact", "id": "1"}); err != nil || status != 200 {
		t.Fatalf("unrelated topic answered %d %v, want 200", status, err)
	}
	// A reply on a conversation the relay does not carry (say, a chat).
	other, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Email: "x@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	conv, err := h.ic.StartConversation(other.ID, "Hi from chat")
	if err != nil {
		t.Fatal(err)
	}
	h.reply(conv.ID, "Hello chat")
	h.drain()
	if n := len(h.sent()); n != 0 {
		t.Errorf("a reply on a chat conversation was sent as %d texts", n)
	}
}

func TestConcurrentFirstTextsMakeOneContactAndConversationPerNumber(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.Workers = 8 })
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- h.r.Run(ctx) }()

	const numbers, perNumber = 10, 5
	var wg sync.WaitGroup
	errs := make(chan error, numbers*perNumber)
	for i := 0; i < numbers; i++ {
		for j := 0; j < perNumber; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				form := twiliotest.InboundForm(fmt.Sprintf("+1415555%04d", 1000+i), ourNumber, fmt.Sprintf("text %d", j))
				status, _, err := twiliotest.Post(ctx, h.srv.Client(), h.token, h.srv.URL+"/twilio/messages", form)
				if err == nil && status != 200 {
					err = fmt.Errorf("status %d", status)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool {
		s, err := h.r.Stats(context.Background())
		return err == nil && s.Ready == 0 && s.Leased == 0
	})
	cancel()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	if n := len(h.ic.Contacts()); n != numbers {
		t.Errorf("Intercom holds %d contacts, want %d", n, numbers)
	}
	convs := h.ic.Conversations()
	if len(convs) != numbers {
		t.Errorf("Intercom holds %d conversations, want %d", len(convs), numbers)
	}
	for _, c := range convs {
		if got := contactParts(c); len(got) != perNumber {
			t.Errorf("conversation %s holds %d texts, want %d", c.ID, len(got), perNumber)
		}
	}
	if n := h.ic.RateLimited(); n != 0 {
		t.Errorf("Intercom answered 429 %d times", n)
	}
}

func TestRoutesAssignAndTagNewConversations(t *testing.T) {
	t.Parallel()
	const salesNumber = "+14155550199"
	var tag intercomtest.Tag
	h := newHarness(t, nil, func(c *relay.Config, ic *intercomtest.Server) {
		var err error
		if tag, err = ic.AddTag("sms-sales"); err != nil {
			t.Fatal(err)
		}
		c.Routes = map[string]relay.Route{salesNumber: {TeamID: "5001", TagIDs: []string{tag.ID}}}
		c.DefaultRoute = relay.Route{AdminID: "6001"}
	})
	h.textForm(twiliotest.InboundForm(customer, salesNumber, "I want to buy"))
	h.text("+14155550124", "Support please")
	h.drain()
	for _, c := range h.ic.Conversations() {
		switch {
		case strings.Contains(c.Source.Body, "buy"):
			if c.TeamAssigneeID != "5001" || len(c.Tags) != 1 || c.Tags[0].ID != tag.ID {
				t.Errorf("sales conversation: team %q tags %+v, want team 5001 and tag %s", c.TeamAssigneeID, c.Tags, tag.ID)
			}
		default:
			if c.AdminAssigneeID != "6001" {
				t.Errorf("default-route conversation assigned to admin %q, want 6001", c.AdminAssigneeID)
			}
		}
	}
	// A second text on the routed thread does not assign again.
	before := len(h.ic.Requests())
	h.textForm(twiliotest.InboundForm(customer, salesNumber, "Hello again"))
	h.drain()
	for _, r := range h.ic.Requests()[before:] {
		if strings.HasSuffix(r.Path, "/parts") || strings.HasSuffix(r.Path, "/tags") {
			t.Errorf("second text made routing request %s %s", r.Method, r.Path)
		}
	}
}

func TestMMSBothWays(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	h.text(customer, "Here is the damage", twiliosms.Media{URL: "https://media.example.com/a.jpg", ContentType: "image/jpeg"})
	h.drain()
	c := h.onlyConversation()
	if len(c.Source.Attachments) != 1 || c.Source.Attachments[0].URL != "https://media.example.com/a.jpg" {
		t.Errorf("conversation attachments = %+v, want the MMS image", c.Source.Attachments)
	}
	h.reply(c.ID, "Label attached", "https://files.example.com/label.pdf")
	h.drain()
	msgs := h.sent()
	if len(msgs) != 1 || len(msgs[0].MediaURLs) != 1 || msgs[0].MediaURLs[0] != "https://files.example.com/label.pdf" {
		t.Fatalf("sent %+v, want one MMS with the attachment", msgs)
	}

	// A number in a country without MMS gets the link in the text.
	const uk = "+447700900123"
	h.text(uk, "Hello from the UK")
	h.drain()
	var ukConv string
	for _, cv := range h.ic.Conversations() {
		if strings.Contains(cv.Source.Body, "UK") {
			ukConv = cv.ID
		}
	}
	h.reply(ukConv, "Label attached", "https://files.example.com/label.pdf")
	h.drain()
	last := h.sent()[len(h.sent())-1]
	if last.To != uk || len(last.MediaURLs) != 0 || !strings.Contains(last.Body, "https://files.example.com/label.pdf") {
		t.Errorf("UK reply = %+v, want the link in the body and no media", last)
	}
}

func TestWhatsAppEndToEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	const wa = "whatsapp:" + customer
	h.textForm(twiliotest.InboundForm(wa, "whatsapp:"+ourNumber, "Hola"))
	h.drain()
	c := h.onlyConversation()
	if contacts := h.ic.Contacts(); len(contacts) != 1 || contacts[0].Phone != customer {
		t.Errorf("contacts = %+v, want one with phone %s", contacts, customer)
	}
	h.reply(c.ID, "Hola! Cómo podemos ayudar?")
	h.drain()
	msgs := h.sent()
	if len(msgs) != 1 || msgs[0].To != wa || msgs[0].From != "whatsapp:"+ourNumber {
		t.Fatalf("sent %+v, want one WhatsApp message", msgs)
	}
}

func TestLongReplyIsSplit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	h.text(customer, "Tell me everything")
	h.drain()
	c := h.onlyConversation()
	h.reply(c.ID, strings.Repeat("All the details. ", 200)) // 3400 characters
	h.drain()
	msgs := h.sent()
	if len(msgs) != 3 {
		t.Fatalf("sent %d texts, want 3", len(msgs))
	}
	for _, m := range msgs {
		if len(m.Body) > 1600 {
			t.Errorf("text of %d characters exceeds Twilio's 1600", len(m.Body))
		}
	}
}

func TestMessagingService(t *testing.T) {
	t.Parallel()
	const mg = "MG0123456789abcdef0123456789abcdef"
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.MessagingServiceSID = mg })
	h.text(customer, "Hi")
	h.drain()
	h.reply(h.onlyConversation().ID, "Hello")
	h.drain()
	if msgs := h.sent(); len(msgs) != 1 || msgs[0].MessagingServiceSID != mg || msgs[0].From != "" {
		t.Errorf("sent %+v, want one through the Messaging Service", msgs)
	}
}

func TestBudgetIsNeverExceeded(t *testing.T) {
	t.Parallel()
	probe := lateness.Start()
	defer probe.Stop()
	h := newHarness(t, []intercomtest.Option{intercomtest.WithBudget(10, 300*time.Millisecond)},
		func(c *relay.Config, _ *intercomtest.Server) {
			c.Limiter = newWindow(10, 300*time.Millisecond)
			c.Workers = 6
		})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.r.Run(ctx) }()
	for i := 0; i < 15; i++ {
		h.text(fmt.Sprintf("+1415555%04d", 2000+i), "hello")
	}
	waitFor(t, 30*time.Second, func() bool { return len(h.ic.Conversations()) == 15 })
	cancel()
	<-done
	checkNoRateLimited(t, h.ic, probe.Stop())
}

func TestRunDrainsAndRefusesASecondRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.r.Run(ctx) }()
	time.Sleep(20 * time.Millisecond)
	if err := h.r.Run(context.Background()); err == nil {
		t.Error("a second concurrent Run did not fail")
	}
	h.text(customer, "Hello")
	waitFor(t, 5*time.Second, func() bool { return len(h.ic.Conversations()) == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	_, err := relay.New(relay.Config{PublicURL: "ftp://x", MessagingServiceSID: "MGnope", RateLimit: -1})
	var ce *relay.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("New(bad config) error = %v, want *relay.ConfigError", err)
	}
	for _, want := range []string{"Intercom", "Twilio", "Store", "PublicURL", "TwilioAuthTokens", "WebhookSecrets", "NoteAuthor", "MessagingServiceSID", "RateLimit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("config error %q does not mention %s", err, want)
		}
	}
}

func TestProxyInFrontValidatesAgainstPublicURL(t *testing.T) {
	t.Parallel()
	const public = "https://support.example.com"
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.PublicURL = public })
	form := twiliotest.InboundForm(customer, ourNumber, "through the proxy")
	// The proxy terminates TLS and forwards to the internal address.
	req, err := http.NewRequest("POST", h.srv.URL+"/twilio/messages", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliotest.Sign(h.token, public+"/twilio/messages", form))
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		t.Errorf("content type = %q, want text/xml", ct)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met in %v", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newWindow(n int, window time.Duration) relay.Limiter {
	return intercom.NewWindowLimiter(n, window)
}

// TestStatusBeforeItsRecordStillNotes: a status callback that overtakes
// the record of its send by longer than a few quick retries (the sender
// died right after sending, and its job waits for its lease to lapse) is
// still applied once the record appears: the agent gets the failure note.
func TestStatusBeforeItsRecordStillNotes(t *testing.T) {
	t.Parallel()
	const lease = time.Second
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.Lease = lease })
	h.text(customer, "Hello")
	h.drain()
	c := h.onlyConversation()
	ctx := context.Background()
	const sid = "SM" + "0123456789abcdef0123456789abcdef"
	f := twiliotest.StatusForm(sid, "undelivered", 30003)
	f.Set("AccountSid", h.tw.AccountSID)
	f.Set("From", ourNumber)
	f.Set("To", customer)
	if status, _, err := twiliotest.Post(ctx, h.srv.Client(), h.token, h.srv.URL+"/twilio/status", f); err != nil || status != 200 {
		t.Fatalf("status callback: %d %v", status, err)
	}
	// Well past the first quick retries (RetryBase is 1ms here), well
	// within two leases.
	deadline := time.Now().Add(150 * time.Millisecond)
	for time.Now().Before(deadline) {
		if _, err := h.r.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := h.st.PutMessage(ctx, store.Message{SID: sid, ConversationID: c.ID, PartID: "part-late",
		Thread: store.ThreadKey{Customer: customer, Sender: ourNumber}, Status: "queued"}); err != nil {
		t.Fatal(err)
	}
	h.drain()
	ns := notes(h.conversation(c.ID))
	if len(ns) != 1 || !strings.Contains(ns[0], "30003") {
		t.Fatalf("notes = %q, want the delivery-failure note", ns)
	}
}
