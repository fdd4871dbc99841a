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
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// seedOursThenTheirs seeds a text of ours to customer, then their answer
// a minute later.
func seedOursThenTheirs(tw *twiliotest.Server, customer string) {
	tw.AddHistory(
		twiliotest.LogMessage{From: ourNumber, To: customer, Body: "h000 is here", Direction: twiliosms.DirectionOutboundAPI, DateSent: bfBase},
		twiliotest.LogMessage{From: customer, To: ourNumber, Body: "h012 is here", Direction: twiliosms.DirectionInbound, DateSent: bfBase.Add(12 * time.Minute)},
	)
}

// A backfill whose customer's stored contact was merged into a user since
// (the relay made the lead for a text sent first, an agent merged it):
// the text of ours before the customer's first goes to the user's profile,
// as their text goes to a conversation of the user's, and nothing fails.
func TestBackfillFollowsAMergedContact(t *testing.T) {
	for _, mode := range mergedModes {
		t.Run(mode.name, func(t *testing.T) {
			h := newBackfillHarnessWith(t, 400, time.Second, mode.opts, nil)
			ctx := context.Background()
			cust := bfCustomer(0)
			_, user := h.mergedLead(cust)
			seedOursThenTheirs(h.tw, cust)
			runWorkers(t, h.r)
			rep, err := h.r.Backfill(ctx, relay.BackfillOptions{Since: bfBase})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Imported != 2 || len(rep.Failed) != 0 {
				t.Fatalf("report: imported %d, failed %+v; want both texts imported", rep.Imported, rep.Failed)
			}
			if ns := h.ic.ContactNotes(user.ID); len(ns) != 1 || !strings.Contains(ns[0].Body, "h000 is here") {
				t.Errorf("user's notes = %+v, want the text of ours", ns)
			}
			if n := len(h.ic.Contacts()); n != 2 {
				t.Errorf("%d contacts, want the lead and the user", n)
			}
			if id, err := h.st.Contact(ctx, cust); err != nil || id != user.ID {
				t.Errorf("store maps the number to %q (%v), want the user %s", id, err, user.ID)
			}
		})
	}
}

// A backfill whose customer's stored contact Intercom no longer has
// (deleted, or merged into a contact nothing names): the relay forgets it
// and tries the text again, as a live text does, with the contact it
// finds or makes then; the text is not reported as refused.
func TestBackfillReplacesAContactIntercomNoLongerHas(t *testing.T) {
	for _, theirsFirst := range []bool{false, true} {
		name := map[bool]string{false: "ours first", true: "theirs first"}[theirsFirst]
		t.Run(name, func(t *testing.T) {
			h := newBackfillHarness(t, 400, time.Second, nil)
			ctx := context.Background()
			cust := bfCustomer(0)
			const gone = "6762f0d51bb69f9f2193bb7f" // no such contact
			if err := h.st.SetContact(ctx, cust, gone); err != nil {
				t.Fatal(err)
			}
			if theirsFirst {
				h.tw.AddHistory(twiliotest.LogMessage{From: cust, To: ourNumber, Body: "h000 is here", Direction: twiliosms.DirectionInbound, DateSent: bfBase})
			} else {
				seedOursThenTheirs(h.tw, cust)
			}
			runWorkers(t, h.r)
			rep, err := h.r.Backfill(ctx, relay.BackfillOptions{Since: bfBase})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Imported != rep.ToImport || len(rep.Failed) != 0 {
				t.Fatalf("report: %d of %d imported, failed %+v; want all imported", rep.Imported, rep.ToImport, rep.Failed)
			}
			id, err := h.st.Contact(ctx, cust)
			if err != nil || id == gone {
				t.Fatalf("store maps the number to %q (%v), want a contact Intercom has", id, err)
			}
			if !theirsFirst {
				if ns := h.ic.ContactNotes(id); len(ns) != 1 || !strings.Contains(ns[0].Body, "h000 is here") {
					t.Errorf("the new contact's notes = %+v, want the text of ours", ns)
				}
			}
			if cs := h.ic.Conversations(); len(cs) != 1 {
				t.Errorf("%d conversations, want 1", len(cs))
			}
		})
	}
}

// A customer whose thread's conversation is closed (without
// Config.Reopen): their history starts a new conversation, as a live text
// of theirs would, and a text of ours before their first text of the
// range is noted on their contact, not on the closed conversation that
// no agent reads.
func TestBackfillOursBeforeTheirsOnAClosedThreadGoesOnTheContact(t *testing.T) {
	h := newBackfillHarness(t, 400, time.Second, nil)
	ctx := context.Background()
	cust := bfCustomer(0)
	runWorkers(t, h.r)
	h.text(cust, "live hello")
	h.waitIdle()
	key := store.ThreadKey{Customer: cust, Sender: ourNumber}
	th, err := h.st.Thread(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	closed := th.ConversationID
	th.State = store.StateClosed // as conversation.admin.closed leaves it
	if err := h.st.PutThread(ctx, th); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Minute)
	h.tw.AddHistory(
		twiliotest.LogMessage{From: ourNumber, To: cust, Body: "h000 is here", Direction: twiliosms.DirectionOutboundAPI, DateSent: now.Add(-2 * time.Hour)},
		twiliotest.LogMessage{From: cust, To: ourNumber, Body: "h012 is here", Direction: twiliosms.DirectionInbound, DateSent: now.Add(-time.Hour)},
	)
	rep, err := h.r.Backfill(ctx, relay.BackfillOptions{Since: now.Add(-3 * time.Hour), Until: now.Add(-time.Minute)})
	if err != nil || rep.Imported != 2 {
		t.Fatalf("%+v, %v", rep, err)
	}
	for _, p := range h.conversation(closed).Parts {
		if strings.Contains(p.Body, "h0") {
			t.Errorf("the closed conversation got %q", p.Body)
		}
	}
	if ns := h.ic.ContactNotes(th.ContactID); len(ns) != 1 || !strings.Contains(ns[0].Body, "h000 is here") {
		t.Errorf("contact notes = %+v, want the text of ours", ns)
	}
	th, err = h.st.Thread(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if c := h.conversation(th.ConversationID); th.ConversationID == closed || !strings.Contains(c.Source.Body, "h012 is here") {
		t.Errorf("the thread's conversation %s starts with %q, want a new one started by their text", th.ConversationID, c.Source.Body)
	}
}

// A batch dead-lettered while the queue already holds a thousand older
// dead letters (of any kind: a missing attribute dead-letters contact
// updates by the hundred) still settles its texts as failed, at once,
// rather than leaving Backfill to report a stall.
func TestBackfillSettlesItsDeadBatchBehindManyDeadLetters(t *testing.T) {
	h := newBackfillHarness(t, 400, time.Second, func(c *relay.Config) { c.MaxAttempts = 2 })
	ctx := context.Background()
	for i := range 1000 {
		if _, err := h.st.Enqueue(ctx, store.NewJob{Kind: "test.other", Key: fmt.Sprintf("other-%d", i), Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		j, err := h.st.Claim(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.st.DeadLetter(ctx, j, "an older failure"); err != nil {
			t.Fatal(err)
		}
	}
	h.tw.AddHistory(twiliotest.LogMessage{From: bfCustomer(0), To: ourNumber, Body: "h000 is here", Direction: twiliosms.DirectionInbound, DateSent: bfBase})
	if err := h.ic.Fail("POST", "/conversations", intercomtest.Fault{Status: http.StatusInternalServerError}); err != nil {
		t.Fatal(err)
	}
	runWorkers(t, h.r)
	rep, err := h.r.Backfill(ctx, relay.BackfillOptions{Since: bfBase, StallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Backfill: %v (report %+v), want its dead batch's text reported failed", err, rep)
	}
	if rep.Imported != 0 || len(rep.Failed) != 1 {
		t.Errorf("report: imported %d, failed %+v; want the one text failed", rep.Imported, rep.Failed)
	}
}

// A 404 to a note on a contact that Intercom still has (the note's
// author unknown, say) is a refusal of the text: reported failed at once,
// the contact kept, not forgotten and tried again until dead-lettered.
func TestBackfillNoteRefusedOnALiveContactFailsAtOnce(t *testing.T) {
	h := newBackfillHarness(t, 400, time.Second, nil)
	ctx := context.Background()
	cust := bfCustomer(0)
	lead := h.knownLead(cust)
	h.tw.AddHistory(twiliotest.LogMessage{From: ourNumber, To: cust, Body: "h000 is here", Direction: twiliosms.DirectionOutboundAPI, DateSent: bfBase})
	if err := h.ic.Fail("POST", "/contacts/*/notes", intercomtest.Fault{Status: http.StatusNotFound}); err != nil {
		t.Fatal(err)
	}
	runWorkers(t, h.r)
	rep, err := h.r.Backfill(ctx, relay.BackfillOptions{Since: bfBase})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 0 || len(rep.Failed) != 1 {
		t.Errorf("report: imported %d, failed %+v; want the text failed", rep.Imported, rep.Failed)
	}
	notes := 0
	for _, r := range h.ic.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/notes") {
			notes++
		}
	}
	if notes != 1 {
		t.Errorf("%d note requests, want 1: a refusal is not tried again", notes)
	}
	if id, err := h.st.Contact(ctx, cust); err != nil || id != lead.ID {
		t.Errorf("store maps the number to %q (%v), want the lead %s kept", id, err, lead.ID)
	}
}

// knownLead adds a lead with phone cust to the fake and records it as the
// number's contact in the relay's store.
func (h *harness) knownLead(cust string) intercomtest.Contact {
	h.t.Helper()
	lead, err := h.ic.AddContact(intercomtest.Contact{Role: "lead", Phone: cust})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.st.SetContact(context.Background(), cust, lead.ID); err != nil {
		h.t.Fatal(err)
	}
	return lead
}

// mergedLead is knownLead, merged since into a user (without the number)
// the relay has not heard of.
func (h *harness) mergedLead(cust string) (lead, user intercomtest.Contact) {
	h.t.Helper()
	lead = h.knownLead(cust)
	user, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Email: "ann@example.com"})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.ic.MergeContact(lead.ID, user.ID); err != nil {
		h.t.Fatal(err)
	}
	return lead, user
}
