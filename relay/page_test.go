package relay_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

const (
	agentPhone  = "+14155550177"
	onCallPhone = "+14155550188"
	workspace   = "abc123de"
)

// textsTo returns the texts sent to phone.
func (h *harness) textsTo(phone string) []twiliotest.SentMessage {
	var out []twiliotest.SentMessage
	for _, m := range h.sent() {
		if m.To == phone {
			out = append(out, m)
		}
	}
	return out
}

// tag tags the conversation urgent in the fake inbox and posts the tag
// notification; it returns the notification id.
func (h *harness) tag(convID, name string) string {
	h.t.Helper()
	id, status, err := h.ic.TagConversation(context.Background(), h.webhookURL(), convID, adminID, name)
	if err != nil {
		h.t.Fatal(err)
	}
	if status != http.StatusOK {
		h.t.Fatalf("tag webhook answered %d, want 200", status)
	}
	return id
}

// notesBy returns the bodies of the conversation's notes by admin.
func notesBy(c intercomtest.Conversation, admin string) []string {
	var out []string
	for _, p := range c.Parts {
		if p.PartType == "note" && p.Author.ID == admin {
			out = append(out, p.Body)
		}
	}
	return out
}

// pagingHarness runs a relay that pages adminID at agentPhone, and routes
// new conversations to adminID unless unassigned.
func pagingHarness(t *testing.T, unassigned bool, configure func(*relay.Config)) *harness {
	return newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		if !unassigned {
			c.DefaultRoute = relay.Route{AdminID: adminID}
		}
		c.Paging = relay.Paging{
			AgentPhones: map[string]string{adminID: agentPhone},
			WorkspaceID: workspace,
		}
		if configure != nil {
			configure(c)
		}
	})
}

func TestTagPagesTheAssignedAdminAndTheirTextBackIsANote(t *testing.T) {
	t.Parallel()
	h := pagingHarness(t, false, nil)
	h.text(customer, "My card was charged twice\nOrder 1042, please help")
	h.drain()
	conv := h.onlyConversation()
	if conv.AdminAssigneeID != adminID {
		t.Fatalf("conversation assigned to %q, want %s", conv.AdminAssigneeID, adminID)
	}

	// A tag other than the paging tag pages no one.
	h.tag(conv.ID, "billing")
	h.drain()
	if p := h.textsTo(agentPhone); len(p) != 0 {
		t.Fatalf("tagged billing: %d pages, want none", len(p))
	}

	notif := h.tag(conv.ID, "Urgent")
	h.drain()
	pages := h.textsTo(agentPhone)
	if len(pages) != 1 {
		t.Fatalf("%d pages, want 1", len(pages))
	}
	p := pages[0]
	if p.From != ourNumber {
		t.Errorf("page from %q, want the number the customer texted, %s", p.From, ourNumber)
	}
	for _, want := range []string{twiliosms.MaskAddress(customer), `"My card was charged twice"`,
		"https://app.intercom.com/a/inbox/" + workspace + "/inbox/conversation/" + conv.ID} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("page %q lacks %q", p.Body, want)
		}
	}
	if strings.Contains(p.Body, customer) || strings.Contains(p.Body, "Order 1042") {
		t.Errorf("page %q shows the customer's number or more than the first line", p.Body)
	}

	// Redelivered, or tagged again in the same spell: no second page.
	if status, err := h.ic.Redeliver(context.Background(), h.webhookURL(), notif); err != nil || status != http.StatusOK {
		t.Fatalf("redeliver: %d, %v", status, err)
	}
	h.tag(conv.ID, "urgent")
	h.drain()
	if n := len(h.textsTo(agentPhone)); n != 1 {
		t.Fatalf("after a redelivery and a second tag: %d pages, want 1", n)
	}

	// The agent texts back: a note by them, a note that the page was
	// acknowledged; no contact, nothing to the customer.
	h.text(agentPhone, "On it, calling them now")
	h.drain()
	conv = h.conversation(conv.ID)
	byAgent := notesBy(conv, adminID)
	if len(byAgent) != 1 || !strings.Contains(byAgent[0], "On it, calling them now") {
		t.Errorf("notes by the paged admin: %q, want their text", byAgent)
	}
	var acked bool
	for _, n := range notesBy(conv, noteAdmin) {
		acked = acked || strings.Contains(n, "acknowledged")
	}
	if !acked {
		t.Errorf("no note says the page was acknowledged; notes %q", notes(conv))
	}
	for _, c := range h.ic.Contacts() {
		if c.Phone == agentPhone {
			t.Errorf("the agent's phone became contact %s", c.ID)
		}
	}
	if n := len(h.ic.Conversations()); n != 1 {
		t.Errorf("%d conversations, want 1", n)
	}
	for _, b := range contactParts(conv) {
		if strings.Contains(b, "On it") {
			t.Errorf("the agent's text is a customer's message: %q", b)
		}
	}
	if n := len(h.textsTo(customer)); n != 0 {
		t.Errorf("%d texts to the customer, want none", n)
	}

	// The spell ended with the acknowledgement: tagging again pages no
	// one, until the customer writes again.
	h.tag(conv.ID, "urgent")
	h.drain()
	if n := len(h.textsTo(agentPhone)); n != 1 {
		t.Fatalf("tagged after the acknowledgement: %d pages, want 1", n)
	}
	h.text(customer, "Still waiting")
	h.drain()
	h.tag(conv.ID, "urgent")
	h.drain()
	pages = h.textsTo(agentPhone)
	if len(pages) != 2 || !strings.Contains(pages[1].Body, `"Still waiting"`) {
		t.Fatalf("after the customer wrote again: pages %+v, want a second one quoting them", pages)
	}
}

func TestWaitingTextPagesOncePerSpell(t *testing.T) {
	t.Parallel()
	const after = 1500 * time.Millisecond
	h := pagingHarness(t, false, func(c *relay.Config) { c.Paging.After = after })
	start := time.Now()
	h.text(customer, "Hello? Anyone there?")
	h.runUntil("the first text", func() bool { return len(h.ic.Conversations()) == 1 })
	conv := h.onlyConversation()
	h.text(customer, "Second text, same spell")
	h.runUntil("the second text", func() bool { return h.customerParts(conv.ID) == 2 })
	if n := len(h.textsTo(agentPhone)); n != 0 && time.Since(start) < after {
		t.Fatalf("paged before the wait was over: %d pages", n)
	}
	h.runUntil("the page", func() bool { return len(h.textsTo(agentPhone)) > 0 })
	h.runUntil("both waiting jobs", func() bool { return h.waitingJobs() == 0 })
	pages := h.textsTo(agentPhone)
	if len(pages) != 1 || !strings.Contains(pages[0].Body, `"Hello? Anyone there?"`) || !strings.HasPrefix(pages[0].Body, "Waiting") {
		t.Fatalf("pages %+v, want one quoting the first text of the spell", pages)
	}

	// An admin replies in time: the next text's job pages no one.
	h.reply(conv.ID, "Here, sorry for the wait")
	h.text(customer, "Thanks! One more thing")
	h.runUntil("the third text", func() bool { return h.customerParts(conv.ID) == 3 })
	h.reply(conv.ID, "Sure, go ahead")
	h.runUntil("its waiting job", func() bool { return h.waitingJobs() == 0 })
	if n := len(h.textsTo(agentPhone)); n != 1 {
		t.Fatalf("an admin replied in time, yet %d pages, want still 1", n)
	}
	if n := len(h.textsTo(customer)); n != 2 {
		t.Errorf("%d texts to the customer, want the 2 replies", n)
	}

	// No reply this time: a new spell, a new page.
	h.text(customer, "Hello again")
	h.runUntil("a second page", func() bool { return len(h.textsTo(agentPhone)) > 1 })
	if p := h.textsTo(agentPhone); !strings.Contains(p[1].Body, `"Hello again"`) {
		t.Fatalf("second page %q, want it to quote the new spell", p[1].Body)
	}
}

func TestUnassignedPagesOnCall(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var asked []string
	h := pagingHarness(t, true, func(c *relay.Config) {
		c.Paging.OnCall = func(_ context.Context, convID string) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, convID)
			if len(asked) == 1 {
				return "", errors.New("on-call rota unavailable") // retried
			}
			return onCallPhone, nil
		}
	})
	h.text(customer, "Urgent: locked out")
	h.drain()
	conv := h.onlyConversation()
	h.tag(conv.ID, "urgent")
	h.drain()
	if p := h.textsTo(onCallPhone); len(p) != 1 || p[0].From != ourNumber {
		t.Fatalf("on-call pages %+v, want one from %s", p, ourNumber)
	}
	mu.Lock()
	if len(asked) != 2 || asked[1] != conv.ID {
		t.Errorf("OnCall asked %q, want twice for %s", asked, conv.ID)
	}
	mu.Unlock()
	h.text(onCallPhone, "ack")
	h.drain()
	c := h.conversation(conv.ID)
	var answer, acked bool
	for _, n := range notesBy(c, noteAdmin) {
		answer = answer || strings.Contains(n, "ack")
		acked = acked || strings.Contains(n, "acknowledged by SMS")
	}
	if !answer || !acked {
		t.Errorf("notes %q, want the on-call answer and the acknowledgement", notes(c))
	}
	for _, ct := range h.ic.Contacts() {
		if ct.Phone == onCallPhone {
			t.Errorf("the on-call phone became a contact")
		}
	}
}

func TestAgentTextAfterTheWindowIsNotACustomerText(t *testing.T) {
	t.Parallel()
	h := pagingHarness(t, false, nil)
	// No page was ever sent: the agent's number is still never a contact.
	h.text(agentPhone, "hello?")
	h.drain()
	if n := len(h.ic.Conversations()); n != 0 {
		t.Errorf("an agent's text started %d conversations", n)
	}
	for _, ct := range h.ic.Contacts() {
		if ct.Phone == agentPhone {
			t.Errorf("the agent's phone became a contact")
		}
	}
}

func TestPagingConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		p    relay.Paging
		want string
	}{
		{"admin id", relay.Paging{AgentPhones: map[string]string{"bob": agentPhone}, WorkspaceID: workspace}, "not an Intercom admin id"},
		{"phone", relay.Paging{AgentPhones: map[string]string{adminID: "call me"}, WorkspaceID: workspace}, "Paging.AgentPhones[" + adminID + "]"},
		{"whatsapp", relay.Paging{OnCallPhone: "whatsapp:" + onCallPhone, WorkspaceID: workspace}, "WhatsApp"},
		{"workspace", relay.Paging{OnCallPhone: onCallPhone}, "Paging.WorkspaceID is required"},
		{"after alone", relay.Paging{After: time.Minute}, "Paging.After needs"},
		{"negative", relay.Paging{OnCallPhone: onCallPhone, WorkspaceID: workspace, AckWindow: -time.Second}, "Paging.AckWindow must not be negative"},
	} {
		_, err := relay.New(relay.Config{PublicURL: "https://relay.example.com", Paging: tc.p})
		var ce *relay.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want a ConfigError saying %q", tc.name, err, tc.want)
		}
	}
}

// waitingJobs counts the jobs not yet done, due or not.
func (h *harness) waitingJobs() int {
	h.t.Helper()
	s, err := h.r.Stats(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return s.Ready + s.Leased
}

// runUntil runs jobs until done holds; unlike drain, it does not wait for
// jobs deferred to later (a page's wait) to run.
func (h *harness) runUntil(what string, done func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			h.t.Fatalf("gave up waiting for %s", what)
		}
		ran, err := h.r.RunOnce(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		if !ran {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// customerParts counts the customer's messages on conversation id.
func (h *harness) customerParts(id string) int {
	c, ok := h.ic.Conversation(id)
	if !ok {
		return 0
	}
	return len(contactParts(c))
}

func TestPageWhoseAnswerWasLostIsSentOnce(t *testing.T) {
	t.Parallel()
	h := pagingHarness(t, false, nil)
	h.text(customer, "Help")
	h.drain()
	conv := h.onlyConversation()
	// Twilio takes the page and the answer is lost: the retry looks
	// before sending again.
	h.tw.FailTo(agentPhone, twiliotest.Fault{Accept: true, Code: 20500})
	h.tag(conv.ID, "urgent")
	h.runUntil("the page", func() bool { return len(h.textsTo(agentPhone)) > 0 })
	h.tw.ClearFaults()
	h.drain()
	if n := len(h.textsTo(agentPhone)); n != 1 {
		t.Fatalf("%d pages, want 1", n)
	}
	if dead, err := h.r.DeadLetters(context.Background(), 10); err != nil || len(dead) != 0 {
		t.Fatalf("dead letters %v, %v", dead, err)
	}
}

func TestTagOnAConversationTheRelayDoesNotCarryPagesNoOne(t *testing.T) {
	t.Parallel()
	h := pagingHarness(t, false, nil)
	ct, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Email: "chat@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	chat, err := h.ic.StartConversation(ct.ID, "a chat, not an SMS")
	if err != nil {
		t.Fatal(err)
	}
	h.tag(chat.ID, "urgent")
	h.drain()
	if n := len(h.sent()); n != 0 {
		t.Fatalf("%d texts, want none", n)
	}
}
