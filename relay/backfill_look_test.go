package relay_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// busyContact gives contactID 151 conversations started after the history
// text of bfBase and well before now: more than the one page (150) of a
// conversation search since the text's date.
func busyContact(t *testing.T, ic *intercomtest.Server, contactID string) {
	t.Helper()
	for i := range 151 {
		if _, err := ic.StartConversationAt(contactID, fmt.Sprintf("an older conversation %d", i), bfBase.Add(time.Duration(i+1)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
}

// conversationsOpenedWith counts the conversations whose first message
// holds text.
func conversationsOpenedWith(ic *intercomtest.Server, text string) int {
	n := 0
	for _, c := range ic.Conversations() {
		if strings.Contains(c.Source.Body, text) {
			n++
		}
	}
	return n
}

// An imported text weeks old starts a conversation for a contact with more
// than 150 conversations since the text's date. When the relay looks for
// the conversation an earlier attempt may have started (the answer to the
// start was lost), or for the one it may have started as the contact a
// merge led to, it searches since that start's first attempt, not since
// the text's date: the search stays within one page and the text is
// imported once, not dead-lettered.
func TestBackfillLooksForItsStartSinceTheFirstAttempt(t *testing.T) {
	seed := func(h *harness, cust string) {
		h.tw.AddHistory(
			twiliotest.LogMessage{From: cust, To: ourNumber, Body: "h000 is here", Direction: twiliosms.DirectionInbound, DateSent: bfBase},
			twiliotest.LogMessage{From: cust, To: ourNumber, Body: "h012 is here", Direction: twiliosms.DirectionInbound, DateSent: bfBase.Add(12 * time.Minute)},
		)
	}
	check := func(t *testing.T, h *harness, rep relay.BackfillReport, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if rep.Imported != 2 || len(rep.Failed) != 0 {
			t.Fatalf("report: imported %d, failed %+v; want both texts imported", rep.Imported, rep.Failed)
		}
		if n := conversationsOpenedWith(h.ic, "h000 is here"); n != 1 {
			t.Errorf("the first text started %d conversations, want 1", n)
		}
		if n := countText(h, "h012 is here"); n != 1 {
			t.Errorf("the second text is in Intercom %d times, want 1", n)
		}
		if s, err := h.r.Stats(context.Background()); err != nil || s.Dead != 0 {
			t.Errorf("stats %+v, %v: want no dead letters", s, err)
		}
	}

	t.Run("answer lost", func(t *testing.T) {
		h := newBackfillHarness(t, 400, time.Second, func(c *relay.Config) { c.MaxAttempts = 5 })
		ctx := context.Background()
		cust := bfCustomer(0)
		lead := h.knownLead(cust)
		busyContact(t, h.ic, lead.ID)
		seed(h, cust)
		if err := h.ic.Fail("POST", "/conversations", intercomtest.Fault{Commit: true, Status: 502, Times: 1}); err != nil {
			t.Fatal(err)
		}
		runWorkers(t, h.r)
		rep, err := h.r.Backfill(ctx, relay.BackfillOptions{Since: bfBase})
		check(t, h, rep, err)
	})

	for _, mode := range mergedModes {
		t.Run("merged contact, "+mode.name, func(t *testing.T) {
			h := newBackfillHarnessWith(t, 400, time.Second, mode.opts, func(c *relay.Config) { c.MaxAttempts = 5 })
			ctx := context.Background()
			cust := bfCustomer(0)
			_, user := h.mergedLead(cust)
			busyContact(t, h.ic, user.ID)
			seed(h, cust)
			runWorkers(t, h.r)
			rep, err := h.r.Backfill(ctx, relay.BackfillOptions{Since: bfBase})
			check(t, h, rep, err)
			if n := conversationsOpenedWith(h.ic, "h000 is here"); n == 1 {
				for _, c := range h.ic.Conversations() {
					if strings.Contains(c.Source.Body, "h000 is here") && c.Source.Author.ID != user.ID {
						t.Errorf("the first text's conversation is by %s, want the user %s", c.Source.Author.ID, user.ID)
					}
				}
			}
		})
	}
}

// An unsure start is looked for since the first attempt its record holds,
// however long before the retry that attempt was; one that left no record
// (an attempt of a release that did not record it, or a record that
// expired) is looked for since the text's date, as before. Either way the
// conversation the earlier attempt made, minutes ago, is found and taken,
// not started again.
func TestBackfillLooksSinceTheRecordedFirstAttempt(t *testing.T) {
	for _, recorded := range []bool{true, false} {
		name := map[bool]string{true: "first attempt recorded", false: "no record"}[recorded]
		t.Run(name, func(t *testing.T) {
			h := newBackfillHarness(t, 400, time.Second, func(c *relay.Config) { c.MaxAttempts = 5 })
			ctx := context.Background()
			cust := bfCustomer(0)
			const sid = "SM0123456789abcdef0123456789abcdef"
			lead := h.knownLead(cust)
			// What the earlier attempt, ten minutes ago, left: its unsure
			// marker and perhaps the record of its time (the stored keys,
			// pinned in TestPersistedKeysNeverChange), and its
			// conversation.
			first := time.Now().Add(-10 * time.Minute)
			if err := h.st.Mark(ctx, "unsure-start:"+sid); err != nil {
				t.Fatal(err)
			}
			if recorded {
				if err := h.st.PutMessage(ctx, store.Message{SID: "start-attempt-record:" + sid, ConversationID: "start-attempt:none",
					PartID: fmt.Sprintf("start-attempt-at:%d", first.UnixNano()), Thread: store.ThreadKey{Customer: cust, Sender: ourNumber}, Status: "received"}); err != nil {
					t.Fatal(err)
				}
			}
			made, err := h.ic.StartConversationAt(lead.ID, "Texted on 2026-11-02 09:00 UTC:\nh000 is here", first.Add(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			h.tw.AddHistory(twiliotest.LogMessage{SID: sid, From: cust, To: ourNumber, Body: "h000 is here", Direction: twiliosms.DirectionInbound, DateSent: bfBase})
			runWorkers(t, h.r)
			rep, err := h.r.Backfill(ctx, relay.BackfillOptions{Since: bfBase})
			if err != nil || rep.Imported != 1 || len(rep.Failed) != 0 {
				t.Fatalf("%+v, %v; want the text imported", rep, err)
			}
			if n := len(h.ic.Conversations()); n != 1 {
				t.Fatalf("%d conversations, want the one the earlier attempt made", n)
			}
			if th, err := h.st.Thread(ctx, store.ThreadKey{Customer: cust, Sender: ourNumber}); err != nil || th.ConversationID != made.ID {
				t.Errorf("thread %+v, %v; want it on conversation %s", th, err, made.ID)
			}
		})
	}
}
