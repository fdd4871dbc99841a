package relay_test

import (
	"context"
	"net/http"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
)

// contactNoteCalls counts the requests that created (POST) and listed
// (GET) notes on contacts.
func contactNoteCalls(ic *intercomtest.Server) (posts, gets int) {
	for _, r := range ic.Requests() {
		if ok, _ := path.Match("/contacts/*/notes", r.Path); !ok {
			continue
		}
		switch r.Method {
		case http.MethodPost:
			posts++
		case http.MethodGet:
			gets++
		}
	}
	return posts, gets
}

// A text sent first whose note on the contact was made but whose answer
// was lost (a 502 after Intercom acted) is noted once: the retry looks
// among the contact's notes, with one read, and finds it. Without the
// fault, nothing is read.
func TestSendFirstContactNoteOnceAfterALostAnswer(t *testing.T) {
	t.Parallel()
	for _, lost := range []bool{false, true} {
		h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.DefaultFrom = ourNumber })
		if lost {
			if err := h.ic.Fail("POST", "/contacts/*/notes", intercomtest.Fault{Status: 502, Commit: true, Times: 1}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := h.r.Send(context.Background(), relay.Text{To: customer, Body: "Your order #1042 has shipped."}); err != nil {
			t.Fatal(err)
		}
		h.drain()
		if ns := h.contactNotes(customer); len(ns) != 1 || !strings.Contains(ns[0], "order #1042 has shipped") {
			t.Errorf("lost answer %v: contact notes = %q, want the text once", lost, ns)
		}
		posts, gets := contactNoteCalls(h.ic)
		if want := map[bool]int{false: 0, true: 1}[lost]; posts != 1 || gets != want {
			t.Errorf("lost answer %v: %d notes made and %d lists read, want 1 and %d", lost, posts, gets, want)
		}
	}
}

// A backfill's text of ours before the customer's first, noted on the
// contact, whose answer was lost is noted once, for one more read.
func TestBackfillOursBeforeTheirsContactNoteOnceAfterALostAnswer(t *testing.T) {
	for _, lost := range []bool{false, true} {
		h := newBackfillHarness(t, 400, time.Second, nil)
		ctx := context.Background()
		cust := bfCustomer(0)
		if lost {
			if err := h.ic.Fail("POST", "/contacts/*/notes", intercomtest.Fault{Status: 502, Commit: true, Times: 1}); err != nil {
				t.Fatal(err)
			}
		}
		seedOursThenTheirs(h.tw, cust)
		runWorkers(t, h.r)
		rep, err := h.r.Backfill(ctx, relay.BackfillOptions{Since: bfBase})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Imported != 2 || len(rep.Failed) != 0 {
			t.Fatalf("lost answer %v: report: imported %d, failed %+v; want both texts imported", lost, rep.Imported, rep.Failed)
		}
		id, err := h.st.Contact(ctx, cust)
		if err != nil {
			t.Fatal(err)
		}
		if ns := h.ic.ContactNotes(id); len(ns) != 1 || !strings.Contains(ns[0].Body, "h000 is here") {
			t.Errorf("lost answer %v: contact notes = %+v, want the text of ours once", lost, ns)
		}
		posts, gets := contactNoteCalls(h.ic)
		if want := map[bool]int{false: 0, true: 1}[lost]; posts != 1 || gets != want {
			t.Errorf("lost answer %v: %d notes made and %d lists read, want 1 and %d", lost, posts, gets, want)
		}
	}
}

// When Intercom refuses the list (a token without the scope, say), the
// note is made again: a duplicate rather than a loss or a stuck job.
func TestSendFirstContactNoteLookRefusedNotesAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.DefaultFrom = ourNumber })
	if err := h.ic.Fail("POST", "/contacts/*/notes", intercomtest.Fault{Status: 502, Commit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	if err := h.ic.Fail("GET", "/contacts/*/notes", intercomtest.Fault{Status: http.StatusForbidden}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.r.Send(context.Background(), relay.Text{To: customer, Body: "Your order #1042 has shipped."}); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if ns := h.contactNotes(customer); len(ns) != 2 {
		t.Errorf("contact notes = %q, want the text twice", ns)
	}
	if dl, err := h.r.DeadLetters(context.Background(), 10); err != nil || len(dl) != 0 {
		t.Errorf("dead letters = %+v (%v), want none", dl, err)
	}
}
