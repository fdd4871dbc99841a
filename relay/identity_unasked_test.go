package relay_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// unaskedNote is in the notes about an address given without being asked.
const unaskedNote = "without being asked"

// emailSearches counts the searches by email Intercom saw.
func (h *harness) emailSearches() int {
	n := 0
	for _, r := range h.ic.Requests() {
		if r.Path == "/contacts/search" && strings.Contains(string(r.Body), `"email"`) {
			n++
		}
	}
	return n
}

// identityNotes returns the identity bridge's notes on conversation id:
// the prompt's and what an answer did.
func (h *harness) identityNotes(id string) []string {
	h.t.Helper()
	var out []string
	for _, n := range notes(h.conversation(id)) {
		if strings.Contains(n, "email address") {
			out = append(out, n)
		}
	}
	return out
}

// A first text that already gives the customer's address is the answer:
// no prompt goes out, the text is on the conversation before the note, and
// the number is never asked later. The address was not asked for, so it is
// never merged on alone: even with SkipDuplicateValidation the merge keeps
// Intercom's duplicate check, which refuses it, and a note links the lead
// to the user.
func TestIdentityUnaskedAddressNeverMergedAlone(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	const first = "hi it's Ann@Example.com, my order is late"
	h.text(customer, first)
	h.drain()
	if n := h.prompts(customer); n != 0 {
		t.Fatalf("%d prompts, want none: the customer gave their address", n)
	}
	lead := h.leadOf(customer)
	if lead.MergedInto != "" {
		t.Fatalf("lead merged into %q on an address given unasked, want it kept", lead.MergedInto)
	}
	for _, r := range h.ic.Requests() {
		if r.Path == "/contacts/merge" && strings.Contains(string(r.Body), "skip_duplicate_validation") {
			t.Errorf("merge request %s skips Intercom's check for an address given unasked", r.Body)
		}
	}
	conv := h.onlyConversation()
	linked := h.notesWith(conv.ID, "stays a lead")
	if len(linked) != 1 || !strings.Contains(linked[0], "Ann Lee") || !strings.Contains(linked[0], "/users/"+user.ID) ||
		!strings.Contains(linked[0], unaskedNote) {
		t.Errorf("link notes = %q, want one naming the user and saying the address was given unasked", linked)
	}
	if got := h.notesWith(conv.ID, "we asked"); len(got) != 0 {
		t.Errorf("prompt notes = %q, want none", got)
	}
	// The customer's text first, then the note.
	if conv.Source.Body == "" || !strings.Contains(conv.Source.Body, "my order is late") {
		t.Errorf("conversation opens with %q, want the customer's text", conv.Source.Body)
	}

	h.text(customer, "Any news?")
	h.drain()
	h.text(customer, "hello?")
	h.drain()
	conv = h.onlyConversation()
	if n := h.prompts(customer); n != 0 {
		t.Errorf("%d prompts after later texts, want none", n)
	}
	if n := len(h.identityNotes(conv.ID)); n != 1 {
		t.Errorf("%d identity notes, want the link's only: %q", n, notes(conv))
	}
	if got := contactParts(conv); len(got) != 3 {
		t.Errorf("customer's texts = %q, want all 3", got)
	}
	last := conv.Parts[len(conv.Parts)-1]
	if last.Author.ID != lead.ID || !strings.Contains(last.Body, "hello?") {
		t.Errorf("last part = %+v, want the text by the lead", last)
	}
	if n := h.requestsTo("/contacts/merge"); n != 1 {
		t.Errorf("%d merge requests, want 1 (with Intercom's check)", n)
	}
	if n := h.emailSearches(); n != 1 {
		t.Errorf("%d searches by email, want 1", n)
	}
}

// Intercom refuses the merge (not duplicates, the default): the address
// in the first text links the lead to the user by note; no prompt, then or
// later.
func TestIdentityAddressInFirstTextLinks(t *testing.T) {
	h := identityHarness(t, nil)
	user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	h.text(customer, "Hello, ann@example.com here. Where is my parcel?")
	h.drain()
	h.text(customer, "hello again")
	h.drain()
	if n := h.prompts(customer); n != 0 {
		t.Errorf("%d prompts, want none", n)
	}
	if lead := h.leadOf(customer); lead.MergedInto != "" {
		t.Errorf("lead merged into %s, want it kept", lead.MergedInto)
	}
	conv := h.onlyConversation()
	linked := h.notesWith(conv.ID, "stays a lead")
	if len(linked) != 1 || !strings.Contains(linked[0], "/users/"+user.ID) || !strings.Contains(linked[0], unaskedNote) {
		t.Errorf("link notes = %q, want one naming the user, saying the address was given unasked", linked)
	}
	if n := len(h.identityNotes(conv.ID)); n != 1 {
		t.Errorf("%d identity notes, want 1: %q", n, notes(conv))
	}
}

// An address in the first text that no user has: a note says so, nothing
// is created, and the number is not asked (it would be asked for what it
// just said).
func TestIdentityAddressInFirstTextNoUser(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	h.text(customer, "bob@example.org - I need to change my booking")
	h.drain()
	h.text(customer, "I mean, today")
	h.drain()
	if n := h.prompts(customer); n != 0 {
		t.Errorf("%d prompts, want none", n)
	}
	conv := h.onlyConversation()
	got := h.notesWith(conv.ID, "no Intercom user has it")
	if len(got) != 1 || !strings.Contains(got[0], "bob@example.org") || !strings.Contains(got[0], unaskedNote) {
		t.Errorf("notes = %q, want one saying no user has the address, given unasked", notes(conv))
	}
	if n := len(h.identityNotes(conv.ID)); n != 1 {
		t.Errorf("%d identity notes, want 1: %q", n, notes(conv))
	}
	if n := len(h.ic.Contacts()); n != 1 {
		t.Errorf("Intercom holds %d contacts, want the lead only", n)
	}
	if n := h.emailSearches(); n != 1 {
		t.Errorf("%d searches by email, want 1", n)
	}
}

// Two different addresses: which is the customer's is theirs to say, so
// the prompt goes out as for a text without one, and the answer decides.
// The same address twice is one address.
func TestIdentityAddressesInFirstText(t *testing.T) {
	t.Run("two", func(t *testing.T) {
		h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
		user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
		h.addUser("Sales", "sales@example.org", time.Now().Add(-time.Hour))
		h.text(customer, "I'm ann@example.com, I wrote to sales@example.org twice")
		h.drain()
		if n := h.prompts(customer); n != 1 {
			t.Fatalf("%d prompts, want 1", n)
		}
		if n := h.emailSearches(); n != 0 {
			t.Errorf("%d searches by email before the answer, want none", n)
		}
		h.text(customer, "ann@example.com")
		h.drain()
		if c, _ := h.ic.Contact(h.leadOf(customer).ID); c.MergedInto != user.ID {
			t.Errorf("lead merged into %q, want %s", c.MergedInto, user.ID)
		}
		if got := h.notesWith(h.onlyConversation().ID, unaskedNote); len(got) != 0 {
			t.Errorf("notes say the address was given unasked: %q", got)
		}
	})
	t.Run("one twice", func(t *testing.T) {
		h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
		user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
		h.text(customer, "ann@example.com (ANN@EXAMPLE.COM)")
		h.drain()
		if n := h.prompts(customer); n != 0 {
			t.Errorf("%d prompts, want none", n)
		}
		linked := h.notesWith(h.onlyConversation().ID, "stays a lead")
		if len(linked) != 1 || !strings.Contains(linked[0], "/users/"+user.ID) {
			t.Errorf("link notes = %q, want one naming the user", linked)
		}
	})
}

// Lost answers between the steps of an address given unasked: the
// conversation is started once, the link note is written once, and no
// prompt goes out on the job's next runs.
func TestIdentityUnaskedSideEffectsOnceAcrossLostAnswers(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	// Intercom starts the conversation with the text and answers 502; then
	// takes the link's note and answers 502.
	if err := h.ic.Fail("POST", "/conversations", intercomtest.Fault{Status: 502, Commit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	if err := h.ic.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Status: 502, Commit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "hi it's ann@example.com, my order is late")
	h.drain()
	if c, _ := h.ic.Contact(h.leadOf(customer).ID); c.MergedInto != "" {
		t.Fatalf("lead merged into %q, want it kept", c.MergedInto)
	}
	conv := h.onlyConversation()
	if got := h.notesWith(conv.ID, "stays a lead"); len(got) != 1 || !strings.Contains(got[0], "/users/"+user.ID) {
		t.Errorf("link notes = %q, want 1 naming the user", got)
	}
	if n := textCount(conv, "my order is late"); n != 1 {
		t.Errorf("the text was posted %d times, want 1", n)
	}
	h.text(customer, "thanks")
	h.drain()
	if n := h.prompts(customer); n != 0 {
		t.Errorf("%d prompts, want none", n)
	}
	if n := len(h.identityNotes(conv.ID)); n != 1 {
		t.Errorf("%d identity notes, want 1: %q", n, notes(h.conversation(conv.ID)))
	}
}

// The link note of an address given unasked takes effect but never
// answers (the job's lease runs out): the job's next run finds the note
// and writes no other, and sends no prompt.
func TestIdentityUnaskedNoteCutOffInFlight(t *testing.T) {
	h := identityHarness(t, nil, func(c *relay.Config) { c.Lease = 200 * time.Millisecond })
	h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	if err := h.ic.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Hang: true, Commit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "ann@example.com - where is my order?")
	// Run until the note was written; the hung request holds the job until
	// its lease runs out.
	noted := func() bool {
		for _, c := range h.ic.Conversations() {
			if len(h.identityNotes(c.ID)) > 0 {
				return true
			}
		}
		return false
	}
	for i := 0; i < 200 && !noted(); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, _ = h.r.RunOnce(ctx)
		cancel()
	}
	h.drain()
	conv := h.onlyConversation()
	if got := h.notesWith(conv.ID, "stays a lead"); len(got) != 1 {
		t.Errorf("link notes = %q, want 1", notes(conv))
	}
	if n := len(h.identityNotes(conv.ID)); n != 1 {
		t.Errorf("%d identity notes, want 1: %q", n, notes(conv))
	}
	if n := h.prompts(customer); n != 0 {
		t.Errorf("%d prompts, want none", n)
	}
}

// Where the bridge would not ask, an address in a text is not read either:
// an opted-out number, WhatsApp, a known user, an opt-out (a text Twilio's
// Advanced Opt-Out took for STOP).
func TestIdentityAddressNotReadWhereNotAsked(t *testing.T) {
	for _, tc := range []struct {
		name, from, body string
		setup            func(h *harness)
	}{
		{"opted out", customer, "it's ann@example.com", func(h *harness) {
			if err := h.st.SetOptedOut(context.Background(), store.ThreadKey{Customer: customer, Sender: ourNumber}, true); err != nil {
				h.t.Fatal(err)
			}
		}},
		{"whatsapp", "whatsapp:" + customer, "it's ann@example.com", nil},
		{"known user", customer, "my other address is ann@example.com", func(h *harness) {
			if _, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Phone: customer, Email: "lee@example.com", CreatedAt: time.Now().Add(-time.Hour)}); err != nil {
				h.t.Fatal(err)
			}
		}},
		{"stop", customer, "STOP ann@example.com", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
			h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
			if tc.setup != nil {
				tc.setup(h)
			}
			form := twiliotest.InboundForm(tc.from, ourNumber, tc.body)
			if strings.HasPrefix(tc.from, "whatsapp:") {
				form = twiliotest.InboundForm(tc.from, "whatsapp:"+ourNumber, tc.body)
			}
			if strings.HasPrefix(tc.body, "STOP") {
				form.Set("OptOutType", "STOP")
			}
			h.textForm(form)
			h.drain()
			if n := h.emailSearches(); n != 0 {
				t.Errorf("%d searches by email, want none", n)
			}
			if n := h.requestsTo("/contacts/merge"); n != 0 {
				t.Errorf("%d merge requests, want none", n)
			}
			if n := len(h.sent()); n != 0 {
				t.Errorf("%d texts sent, want none", n)
			}
			for _, c := range h.ic.Conversations() {
				if got := h.identityNotes(c.ID); len(got) != 0 {
					t.Errorf("identity notes on conversation %s: %q", c.ID, got)
				}
			}
		})
	}
}

// crossedAddressLinked checks that one prompt went out and that the
// address of a text that crossed it was not merged on but linked to user
// by a note saying so; it returns the conversation.
func (h *harness) crossedAddressLinked(user intercomtest.Contact) intercomtest.Conversation {
	h.t.Helper()
	if n := h.prompts(customer); n != 1 {
		h.t.Fatalf("%d prompts, want 1 (the first text set it off)", n)
	}
	if c, _ := h.ic.Contact(h.leadOf(customer).ID); c.MergedInto != "" {
		h.t.Fatalf("lead merged into %q on an address that crossed the question, want it kept", c.MergedInto)
	}
	conv := h.onlyConversation()
	linked := h.notesWith(conv.ID, "stays a lead")
	if len(linked) != 1 || !strings.Contains(linked[0], "/users/"+user.ID) || !strings.Contains(linked[0], "before our question reached them") {
		h.t.Errorf("link notes = %q, want one naming the user, saying the address crossed the question", linked)
	}
	return conv
}

// A text that gives an address and crossed the prompt (sent before it went
// out) is the answer, unasked (a note links it); the text after it is not
// read as one.
func TestIdentityAddressCrossingThePrompt(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	h.text(customer, "Hello")
	h.text(customer, "oh and I'm ann@example.com")
	h.drain()
	conv := h.crossedAddressLinked(user)
	h.text(customer, "no thanks")
	h.drain()
	if got := h.notesWith(conv.ID, "holds no address"); len(got) != 0 {
		t.Errorf("the text after the address was read as the answer: %q", got)
	}
	if n := h.prompts(customer); n != 1 {
		t.Errorf("%d prompts, want 1", n)
	}
}

// An address given unasked takes the period's claim: a store that lost
// the bridge's markers still sends no prompt to the number within the
// period.
func TestIdentityUnaskedAnswerHoldsThePeriod(t *testing.T) {
	ms := memstore.New()
	h := identityHarness(t, nil, func(c *relay.Config) { c.Store, c.Queue = forgetful{ms}, ms })
	h.text(customer, "bob@example.org here")
	h.drain()
	for _, body := range []string{"one", "two"} {
		h.text(customer, body)
		h.drain()
	}
	if n := h.prompts(customer); n != 0 {
		t.Errorf("%d prompts, want none within the period", n)
	}
}

// An address given unasked never reaches the logs whole, though Intercom's
// refusal of the search echoes it.
func TestIdentityUnaskedLogsNoEmail(t *testing.T) {
	logs := &syncBuffer{}
	h := identityHarness(t, nil, func(c *relay.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	body := `{"type":"error.list","errors":[{"code":"parameter_invalid","message":"Cannot search for Ann.Lee+shop@example.com"}]}`
	// The first search, by the unknown number's phone, goes through.
	if err := h.ic.Fail("POST", "/contacts/search", intercomtest.Fault{Latency: time.Millisecond, Times: 1}); err != nil {
		t.Fatal(err)
	}
	if err := h.ic.Fail("POST", "/contacts/search", intercomtest.Fault{Status: 400, Body: body}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "Hi, it's Ann.Lee+shop@example.com - my order is late")
	h.drain()
	h.checkRefusedSearchLoggedMasked(logs)
	if n := h.prompts(customer); n != 0 {
		t.Errorf("%d prompts, want none", n)
	}
}

// The prompt's first attempt does not send it (Twilio answers 429, the
// text was not taken), and the customer gives their address before the
// next attempt sends it: that address crossed the prompt, so it is never
// merged on alone (even with SkipDuplicateValidation) and its note says it
// crossed the question. Only an attempt that may have sent the prompt
// fixes its time.
func TestIdentityAddressBeforeThePromptWentOut(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	h.tw.Fail(twiliotest.Fault{Code: 20429})
	h.text(customer, "Hello")
	if ran, err := h.r.RunOnce(context.Background()); err != nil || !ran {
		t.Fatalf("RunOnce = %v, %v; want the first text's job run", ran, err)
	}
	if n := h.prompts(customer); n != 0 {
		t.Fatalf("%d prompts after the refused attempt, want none yet", n)
	}
	time.Sleep(5 * time.Millisecond) // the address comes later than the first attempt, on any clock
	h.text(customer, "oh and I'm ann@example.com")
	h.drain()
	h.crossedAddressLinked(user)
}
