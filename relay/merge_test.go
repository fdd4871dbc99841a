package relay_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
)

// mergedModes are the two answers Intercom gives for a merged contact:
// 410 with a Link to the canonical contact, and 404.
var mergedModes = []struct {
	name string
	opts []intercomtest.Option
}{
	{"410 with Link", nil},
	{"404", []intercomtest.Option{intercomtest.WithMergedContactStatus(http.StatusNotFound)}},
}

// landline is a user's own number, not the one they text from: after a
// merge, a search by the number they text from does not find them.
const landline = "+14155550999"

// onlyLead returns the one contact of the fake, a lead.
func (h *harness) onlyLead() intercomtest.Contact {
	h.t.Helper()
	cs := h.ic.Contacts()
	if len(cs) != 1 || cs[0].Role != "lead" {
		h.t.Fatalf("contacts = %+v, want one lead", cs)
	}
	return cs[0]
}

// storedContact is the contact the relay's store holds for customer.
func (h *harness) storedContact() string {
	h.t.Helper()
	id, err := h.st.Contact(context.Background(), customer)
	if err != nil {
		h.t.Fatalf("stored contact: %v", err)
	}
	return id
}

// partsBy returns the bodies of the parts contactID wrote on c.
func partsBy(c intercomtest.Conversation, contactID string) []string {
	var out []string
	for _, p := range c.Parts {
		if p.Author.ID == contactID {
			out = append(out, p.Body)
		}
	}
	return out
}

// textCount returns how many of the customer's parts (source included) of c
// hold s.
func textCount(c intercomtest.Conversation, s string) int {
	n := 0
	for _, b := range contactParts(c) {
		if strings.Contains(b, s) {
			n++
		}
	}
	return n
}

// An agent merges the relay's lead into a user mid-conversation: the
// customer's next text lands on the same conversation, as the user; no lead
// is created; the store maps the number to the user; the thread carries on
// (an agent's reply goes out by SMS).
func TestMergedLeadNextTextSameConversation(t *testing.T) {
	t.Parallel()
	for _, mode := range mergedModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, mode.opts, nil)
			h.text(customer, "Hello, my order is late")
			h.drain()
			conv := h.onlyConversation()
			lead := h.onlyLead()
			user, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Name: "Ann", Email: "ann@example.com", Phone: landline})
			if err != nil {
				t.Fatal(err)
			}
			if err := h.ic.MergeContact(lead.ID, user.ID); err != nil {
				t.Fatal(err)
			}

			h.text(customer, "It is order 1042")
			h.drain()
			got := h.onlyConversation()
			if got.ID != conv.ID {
				t.Fatalf("the text went to conversation %s, want %s", got.ID, conv.ID)
			}
			if by := partsBy(got, user.ID); len(by) != 1 || !strings.Contains(by[0], "order 1042") {
				t.Errorf("parts by the user = %q, want the text once", by)
			}
			if n := len(h.ic.Contacts()); n != 2 {
				t.Errorf("%d contacts, want 2 (the merged lead and the user): %+v", n, h.ic.Contacts())
			}
			if id := h.storedContact(); id != user.ID {
				t.Errorf("store maps the number to %s, want the user %s", id, user.ID)
			}
			th, err := h.st.Thread(context.Background(), store.ThreadKey{Customer: customer, Sender: ourNumber})
			if err != nil || th.ContactID != user.ID || th.ConversationID != conv.ID {
				t.Errorf("thread = %+v, %v; want the user on %s", th, err, conv.ID)
			}

			// The agent's reply still reaches the customer, and the next
			// text costs no more lookups.
			h.reply(conv.ID, "Thanks Ann, on its way")
			h.drain()
			if msgs := h.sent(); len(msgs) != 1 || msgs[0].To != customer || !strings.Contains(msgs[0].Body, "on its way") {
				t.Errorf("texts sent = %+v, want the agent's reply", msgs)
			}
			h.ic.ResetRequests()
			h.text(customer, "Great")
			h.drain()
			for _, r := range h.ic.Requests() {
				if r.Method != http.MethodPost || !strings.HasSuffix(r.Path, "/reply") {
					t.Errorf("after the merge was followed, a text made %s %s", r.Method, r.Path)
				}
			}
			if n := textCount(h.conversation(conv.ID), "Great"); n != 1 {
				t.Errorf("the third text is on the conversation %d times, want 1", n)
			}
		})
	}
}

// The lead is merged while its conversation is closed: the next text
// starts a new conversation, as the user, without a new lead.
func TestMergedLeadClosedConversationStartsAsUser(t *testing.T) {
	t.Parallel()
	for _, mode := range mergedModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, mode.opts, nil)
			h.text(customer, "Hello")
			h.drain()
			conv := h.onlyConversation()
			lead := h.onlyLead()
			if _, status, err := h.ic.CloseConversation(context.Background(), h.webhookURL(), conv.ID, adminID); err != nil || status != http.StatusOK {
				t.Fatalf("closing: %d %v", status, err)
			}
			h.drain()
			user, _ := h.ic.AddContact(intercomtest.Contact{Role: "user", Email: "ann@example.com", Phone: landline})
			if err := h.ic.MergeContact(lead.ID, user.ID); err != nil {
				t.Fatal(err)
			}
			h.text(customer, "Another question")
			h.drain()
			convs := h.ic.Conversations()
			if len(convs) != 2 {
				t.Fatalf("%d conversations, want 2", len(convs))
			}
			if c := convs[1]; len(c.ContactIDs) != 1 || c.ContactIDs[0] != user.ID || !strings.Contains(c.Source.Body, "Another question") {
				t.Errorf("new conversation = %+v, want one started by the user", c)
			}
			if n := len(h.ic.Contacts()); n != 2 {
				t.Errorf("%d contacts, want 2", n)
			}
			if id := h.storedContact(); id != user.ID {
				t.Errorf("store maps the number to %s, want %s", id, user.ID)
			}
		})
	}
}

// Relay.Send to a number whose stored contact was merged: the note goes to
// the user, and no lead is created. Send by the merged contact's id, too.
// (The user has no number of their own, so takes the lead's: with a 404
// and no conversation, only a search by the number can find them.)
func TestSendToMergedContactNotesTheUser(t *testing.T) {
	t.Parallel()
	for _, mode := range mergedModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, mode.opts, func(c *relay.Config, _ *intercomtest.Server) { c.DefaultFrom = ourNumber })
			ctx := context.Background()
			if _, err := h.r.Send(ctx, relay.Text{To: customer, Body: "Your order has shipped"}); err != nil {
				t.Fatal(err)
			}
			h.drain()
			lead := h.onlyLead()
			user, _ := h.ic.AddContact(intercomtest.Contact{Role: "user", Email: "ann@example.com"})
			if err := h.ic.MergeContact(lead.ID, user.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := h.r.Send(ctx, relay.Text{To: customer, Body: "It arrives tomorrow"}); err != nil {
				t.Fatal(err)
			}
			h.drain()
			ns := h.ic.ContactNotes(user.ID)
			if len(ns) != 1 || !strings.Contains(ns[0].Body, "arrives tomorrow") {
				t.Errorf("user's notes = %+v, want the second text", ns)
			}
			if n := len(h.ic.Contacts()); n != 2 {
				t.Errorf("%d contacts, want 2: %+v", n, h.ic.Contacts())
			}
			if id := h.storedContact(); id != user.ID {
				t.Errorf("store maps the number to %s, want %s", id, user.ID)
			}

			// By the merged contact's id: Intercom's 410 names the user;
			// a 404 leaves nothing to text.
			_, err := h.r.Send(ctx, relay.Text{ContactID: lead.ID, Body: "Any question?"})
			if mode.opts != nil {
				if err == nil {
					t.Errorf("Send by a contact Intercom answers 404 for: no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			h.drain()
			if ns := h.ic.ContactNotes(user.ID); len(ns) != 2 || !strings.Contains(ns[1].Body, "Any question?") {
				t.Errorf("user's notes = %+v, want the third text too", ns)
			}
			if n := len(h.ic.Contacts()); n != 2 {
				t.Errorf("%d contacts, want 2", n)
			}
		})
	}
}

// Several contacts with the customer's number: a user over a (newer) lead;
// of two users, the most recently updated.
func TestSeveralContactsForOnePhone(t *testing.T) {
	t.Parallel()
	old := time.Now().Add(-30 * 24 * time.Hour)
	for _, tc := range []struct {
		name     string
		contacts []intercomtest.Contact // the first with AddContact, the rest sharing its phone
		want     int                    // index of the contact the text must land on
	}{
		{"user over a newer lead", []intercomtest.Contact{
			{Role: "user", Email: "ann@example.com", CreatedAt: old, UpdatedAt: old},
			{Role: "lead", CreatedAt: old, UpdatedAt: time.Now().Add(-time.Minute)},
		}, 0},
		{"lead first, user older", []intercomtest.Contact{
			{Role: "lead", CreatedAt: old, UpdatedAt: time.Now().Add(-time.Minute)},
			{Role: "user", Email: "ann@example.com", CreatedAt: old, UpdatedAt: old},
		}, 1},
		{"two users: the most recently updated", []intercomtest.Contact{
			{Role: "user", Email: "ann@example.com", CreatedAt: old, UpdatedAt: old},
			{Role: "user", Email: "ann@work.example.com", CreatedAt: old, UpdatedAt: old.Add(time.Hour)},
			{Role: "lead", CreatedAt: old, UpdatedAt: time.Now().Add(-time.Minute)},
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil, nil)
			var ids []string
			for i, c := range tc.contacts {
				c.Phone = customer
				add := h.ic.AddContactSharingPhone
				if i == 0 {
					add = h.ic.AddContact
				}
				got, err := add(c)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, got.ID)
			}
			h.text(customer, "Hi there")
			h.drain()
			c := h.onlyConversation()
			if len(c.ContactIDs) != 1 || c.ContactIDs[0] != ids[tc.want] {
				t.Errorf("conversation of %v, want contact %d (%s) of %v", c.ContactIDs, tc.want, ids[tc.want], ids)
			}
			if n := len(h.ic.Contacts()); n != len(tc.contacts) {
				t.Errorf("%d contacts, want %d: a lead was created", n, len(tc.contacts))
			}
			if id := h.storedContact(); id != ids[tc.want] {
				t.Errorf("store maps the number to %s, want %s", id, ids[tc.want])
			}
		})
	}
}

// A merge that happens between a job's steps ends with the text posted
// exactly once.
func TestMergeBetweenStepsPostsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// failOnce runs the one ready job, which is to fail.
	failOnce := func(t *testing.T, h *harness) {
		t.Helper()
		ran, err := h.r.RunOnce(ctx)
		if err != nil || !ran {
			t.Fatalf("RunOnce = %v, %v; want a job run", ran, err)
		}
	}
	// started sets up a lead with an open conversation and returns them
	// with a fresh user.
	started := func(t *testing.T, h *harness) (intercomtest.Conversation, intercomtest.Contact, intercomtest.Contact) {
		t.Helper()
		h.text(customer, "Hello")
		h.drain()
		conv, lead := h.onlyConversation(), h.onlyLead()
		user, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Email: "ann@example.com", Phone: landline})
		if err != nil {
			t.Fatal(err)
		}
		return conv, lead, user
	}

	t.Run("reply answered 410 with Link", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, nil)
		conv, lead, user := started(t, h)
		if err := h.ic.MergeContact(lead.ID, user.ID); err != nil {
			t.Fatal(err)
		}
		link := http.Header{"Link": {fmt.Sprintf(`</contacts/%s>; rel="canonical"`, user.ID)}}
		if err := h.ic.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Status: http.StatusGone, Header: link, Times: 1,
			Body: `{"type":"error.list","errors":[{"code":"contact_merged","message":"This contact has been merged. See the 'Link' header for the canonical contact."}]}`}); err != nil {
			t.Fatal(err)
		}
		h.text(customer, "Still waiting")
		h.drain()
		got := h.onlyConversation()
		if n := textCount(got, "Still waiting"); n != 1 || len(partsBy(got, user.ID)) != 1 {
			t.Errorf("the text is on %s %d times (%d by the user), want once by the user", got.ID, n, len(partsBy(got, user.ID)))
		}
		if got.ID != conv.ID || len(h.ic.Contacts()) != 2 || h.storedContact() != user.ID {
			t.Errorf("conversation %s (want %s), %d contacts (want 2), stored %s (want %s)", got.ID, conv.ID, len(h.ic.Contacts()), h.storedContact(), user.ID)
		}
	})

	t.Run("reply posted, answer lost, then merged", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, nil)
		conv, lead, user := started(t, h)
		if err := h.ic.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Status: http.StatusBadGateway, Commit: true, Times: 1}); err != nil {
			t.Fatal(err)
		}
		h.text(customer, "Still waiting")
		failOnce(t, h)
		if err := h.ic.MergeContact(lead.ID, user.ID); err != nil {
			t.Fatal(err)
		}
		h.drain()
		if n := textCount(h.conversation(conv.ID), "Still waiting"); n != 1 {
			t.Errorf("the text is on the conversation %d times, want 1", n)
		}
		// The next text follows the merge.
		h.text(customer, "Hello?")
		h.drain()
		got := h.onlyConversation()
		if by := partsBy(got, user.ID); len(by) != 1 || !strings.Contains(by[0], "Hello?") || len(h.ic.Contacts()) != 2 {
			t.Errorf("parts by the user = %q, %d contacts; want the next text once and no new lead", by, len(h.ic.Contacts()))
		}
	})

	t.Run("reply posted, answer lost, merged, number adopted meanwhile", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, nil)
		conv, lead, user := started(t, h)
		if err := h.ic.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Status: http.StatusBadGateway, Commit: true, Times: 1}); err != nil {
			t.Fatal(err)
		}
		h.text(customer, "Still waiting")
		failOnce(t, h)
		if err := h.ic.MergeContact(lead.ID, user.ID); err != nil {
			t.Fatal(err)
		}
		// What adoptContact does when another job (the identity bridge)
		// merged the lead.
		if err := h.st.SetContact(ctx, customer, user.ID); err != nil {
			t.Fatal(err)
		}
		h.drain()
		got := h.conversation(conv.ID)
		if n := textCount(got, "Still waiting"); n != 1 || len(partsBy(got, user.ID)) != 0 {
			t.Errorf("the text is on the conversation %d times (%d by the user), want once, as posted by the lead", n, len(partsBy(got, user.ID)))
		}
	})

	t.Run("conversation started, answer lost, then merged", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, nil)
		if err := h.ic.Fail("POST", "/conversations", intercomtest.Fault{Status: http.StatusBadGateway, Commit: true, Times: 1}); err != nil {
			t.Fatal(err)
		}
		h.text(customer, "Hello")
		failOnce(t, h)
		lead := h.onlyLead()
		user, _ := h.ic.AddContact(intercomtest.Contact{Role: "user", Email: "ann@example.com"})
		if err := h.ic.MergeContact(lead.ID, user.ID); err != nil {
			t.Fatal(err)
		}
		h.drain()
		c := h.onlyConversation()
		if n := textCount(c, "Hello"); n != 1 || len(c.ContactIDs) != 1 || c.ContactIDs[0] != user.ID {
			t.Errorf("conversation %+v holds the text %d times, want once, on the user's", c, n)
		}
		if len(h.ic.Contacts()) != 2 || h.storedContact() != user.ID {
			t.Errorf("%d contacts (want 2), stored %s (want %s)", len(h.ic.Contacts()), h.storedContact(), user.ID)
		}
		// The thread was recorded: an agent's reply goes out.
		h.reply(c.ID, "Hi!")
		h.drain()
		if msgs := h.sent(); len(msgs) != 1 {
			t.Errorf("texts sent = %+v, want the agent's reply", msgs)
		}
	})
}
