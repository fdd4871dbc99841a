package relay_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// contactNotes returns the bodies of the notes on the profile of the
// contact with phone.
func (h *harness) contactNotes(phone string) []string {
	h.t.Helper()
	var out []string
	for _, c := range h.ic.Contacts() {
		if c.Phone == phone {
			for _, n := range h.ic.ContactNotes(c.ID) {
				out = append(out, n.Body)
			}
		}
	}
	return out
}

func TestSendTextsFirstAndTheAnswerLandsInTheInbox(t *testing.T) {
	t.Parallel()
	var tagID string
	h := newHarness(t, nil, func(c *relay.Config, ic *intercomtest.Server) {
		tag, err := ic.AddTag("sms-reply")
		if err != nil {
			t.Fatal(err)
		}
		tagID = tag.ID
		c.AnswerTagID = tag.ID
		c.DefaultFrom = ourNumber
	})
	ctx := context.Background()
	text := relay.Text{To: customer, Body: "Your order #1042 has shipped. Reply here with any question.", IdempotencyKey: "order-1042-shipped"}
	sent, err := h.r.Send(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sent.SID, "SM") || sent.Segments != 1 || sent.Encoding != twiliosms.GSM7 || sent.Repeated || sent.From != ourNumber {
		t.Errorf("Send = %+v, want one GSM-7 segment from %s", sent, ourNumber)
	}
	// A retried Send with the same key sends nothing more.
	again, err := h.r.Send(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Repeated || again.SID != sent.SID {
		t.Errorf("repeated Send = %+v, want Repeated with SID %s", again, sent.SID)
	}
	if msgs := h.sent(); len(msgs) != 1 || msgs[0].From != ourNumber || msgs[0].To != customer || msgs[0].Body != text.Body {
		t.Fatalf("Twilio got %+v, want one text", msgs)
	}
	h.drain()
	// A number Intercom did not know got a lead, with the text noted on it.
	if cs := h.ic.Contacts(); len(cs) != 1 || cs[0].Role != "lead" || cs[0].Phone != customer {
		t.Fatalf("contacts = %+v, want one lead for the number", cs)
	}
	if ns := h.contactNotes(customer); len(ns) != 1 || !strings.Contains(ns[0], "order #1042 has shipped") {
		t.Errorf("contact notes = %q, want one with the text", ns)
	}

	// The answer starts a conversation, noted with what was sent and tagged.
	h.text(customer, "When will it arrive?")
	h.drain()
	c := h.onlyConversation()
	ns := notes(c)
	if len(ns) != 1 || !strings.Contains(ns[0], "order #1042 has shipped") || !strings.Contains(ns[0], "answering") {
		t.Errorf("notes = %q, want one quoting the text sent first", ns)
	}
	if len(c.Tags) != 1 || c.Tags[0].ID != tagID {
		t.Errorf("tags = %+v, want sms-reply", c.Tags)
	}
	if got := contactParts(c); len(got) != 1 || !strings.Contains(got[0], "When will it arrive?") {
		t.Errorf("customer's parts = %q", got)
	}
	// A second answer is just a message.
	h.text(customer, "Thanks")
	h.drain()
	if ns := notes(h.conversation(c.ID)); len(ns) != 1 {
		t.Errorf("notes after a second answer = %q, want still one", ns)
	}
	// And the agent's reply goes back on the same thread.
	h.reply(c.ID, "Tomorrow!")
	h.drain()
	if msgs := h.sent(); len(msgs) != 2 || msgs[1].Body != "Tomorrow!" || msgs[1].From != ourNumber {
		t.Errorf("sent %+v, want the reply from %s", msgs, ourNumber)
	}
}

func TestAnswerAfterTheWindowIsAnOrdinaryText(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.AnswerWindow = time.Second })
	if _, err := h.r.Send(context.Background(), relay.Text{To: customer, From: ourNumber, Body: "Reminder: your appointment is tomorrow at 10."}); err != nil {
		t.Fatal(err)
	}
	h.drain()
	time.Sleep(2500 * time.Millisecond) // Twilio's times are whole seconds
	h.text(customer, "Hello?")
	h.drain()
	if ns := notes(h.onlyConversation()); len(ns) != 0 {
		t.Errorf("notes = %q, want none after the window", ns)
	}
}

func TestSendRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	h.text(customer, "STOP")
	h.drain()
	for _, tc := range []struct {
		name string
		text relay.Text
		want error
	}{
		{"opted out", relay.Text{To: customer, From: ourNumber, Body: "Sale!"}, relay.ErrOptedOut},
		{"bad number", relay.Text{To: "12", From: ourNumber, Body: "Hi"}, relay.ErrInvalidText},
		{"empty body", relay.Text{To: "+14155550199", From: ourNumber, Body: "  "}, relay.ErrInvalidText},
		{"no from", relay.Text{To: "+14155550199", Body: "Hi"}, relay.ErrInvalidText},
		{"to and contact", relay.Text{To: "+14155550199", ContactID: "1", From: ourNumber, Body: "Hi"}, relay.ErrInvalidText},
		{"whatsapp from sms", relay.Text{To: "whatsapp:+14155550199", From: ourNumber, Body: "Hi"}, relay.ErrInvalidText},
		{"no such contact", relay.Text{ContactID: "6762f0dd0000000000000999", From: ourNumber, Body: "Hi"}, relay.ErrInvalidText},
	} {
		_, err := h.r.Send(ctx, tc.text)
		var se *relay.SendError
		if !errors.Is(err, tc.want) || !errors.As(err, &se) {
			t.Errorf("%s: Send = %v, want a *SendError wrapping %v", tc.name, err, tc.want)
		}
	}
	// Twilio's own refusal: a landline.
	h.tw.FailNext(21614, 400)
	_, err := h.r.Send(ctx, relay.Text{To: "+14155550199", From: ourNumber, Body: "Hi"})
	if code, _ := twiliosms.ErrorCode(err); !errors.Is(err, relay.ErrRefused) || code != 21614 {
		t.Errorf("Send refused by Twilio = %v, want ErrRefused with code 21614", err)
	}
	// Twilio's opt-out error records the opt-out.
	h.tw.FailNext(twiliosms.CodeOptedOut, 400)
	if _, err := h.r.Send(ctx, relay.Text{To: "+14155550198", From: ourNumber, Body: "Hi"}); !errors.Is(err, relay.ErrOptedOut) {
		t.Errorf("Send to a number Twilio says opted out = %v, want ErrOptedOut", err)
	}
	if _, err := h.r.Send(ctx, relay.Text{To: "+14155550198", From: ourNumber, Body: "Hi"}); !errors.Is(err, relay.ErrOptedOut) {
		t.Errorf("second Send = %v, want ErrOptedOut from the record", err)
	}
	if n := len(h.sent()); n != 0 {
		t.Errorf("sent %d texts, want none", n)
	}
}

func TestSendByContactAndOverTheCap(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.DefaultFrom = ourNumber
		c.Cost = relay.CostGuard{Transliterate: true, MaxSegments: 1, HoldOverCap: true}
	})
	ct, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Phone: customer, Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sent, err := h.r.Send(ctx, relay.Text{ContactID: ct.ID, Body: "It’s ready — come by any time."})
	if err != nil {
		t.Fatal(err)
	}
	if sent.To != customer || sent.Encoding != twiliosms.GSM7 || h.sent()[0].Body != "It's ready - come by any time." {
		t.Errorf("Send = %+v, body %q; want the contact's phone, transliterated", sent, h.sent()[0].Body)
	}
	_, err = h.r.Send(ctx, relay.Text{ContactID: ct.ID, Body: strings.Repeat("Long news. ", 20)})
	if !errors.Is(err, relay.ErrOverSegmentCap) {
		t.Errorf("Send over the cap = %v, want ErrOverSegmentCap", err)
	}
	h.drain()
	if ns := h.ic.ContactNotes(ct.ID); len(ns) != 1 {
		t.Errorf("contact notes = %+v, want one", ns)
	}
	if n := len(h.ic.Contacts()); n != 1 {
		t.Errorf("%d contacts, want the existing one only", n)
	}
}

func TestSendWhoseAnswerWasLostSendsOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	text := relay.Text{To: customer, From: ourNumber, Body: "Your table is ready.", IdempotencyKey: "table-7"}
	h.tw.Fail(twiliotest.Fault{Accept: true, Drop: true}) // Twilio created it; the answer is lost
	if _, err := h.r.Send(ctx, text); err == nil {
		t.Fatal("Send whose answer was lost returned no error")
	}
	sent, err := h.r.Send(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	if msgs := h.sent(); len(msgs) != 1 || sent.SID != msgs[0].SID {
		t.Errorf("Twilio got %d texts, Send = %+v; want the first one found", len(msgs), sent)
	}
}

func TestFailedDeliveryOfATextSentFirstIsNoted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	sent, err := h.r.Send(ctx, relay.Text{To: customer, From: ourNumber, Body: "Your code is 1234"})
	if err != nil {
		t.Fatal(err)
	}
	h.drain()
	if status, err := h.tw.SendStatus(ctx, sent.SID, "undelivered", 30003); err != nil || status != 200 {
		t.Fatalf("status callback: %d %v", status, err)
	}
	h.drain()
	ns := h.contactNotes(customer)
	if len(ns) != 2 || !strings.Contains(ns[1], "was not delivered") || !strings.Contains(ns[1], "30003") {
		t.Errorf("contact notes = %q, want the text and its failure", ns)
	}
	// With an SMS conversation, the failure is noted there.
	h.text(customer, "Hi")
	h.drain()
	c := h.onlyConversation()
	sent, err = h.r.Send(ctx, relay.Text{To: customer, From: ourNumber, Body: "Second"})
	if err != nil {
		t.Fatal(err)
	}
	h.drain()
	if _, err := h.tw.SendStatus(ctx, sent.SID, "failed", 30008); err != nil {
		t.Fatal(err)
	}
	h.drain()
	found := false
	for _, n := range notes(h.conversation(c.ID)) {
		found = found || strings.Contains(n, "could not be sent") && strings.Contains(n, "30008")
	}
	if !found {
		t.Errorf("conversation notes = %q, want the failure", notes(h.conversation(c.ID)))
	}
}

func TestSendIsPacedPerSender(t *testing.T) {
	t.Parallel()
	const slow = "+14155550102"
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.SendRate = func(sender string) float64 {
			if sender == slow {
				return 0.2 // one text per 5 s
			}
			return 10
		}
	})
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.r.Send(ctx, relay.Text{To: customer, From: ourNumber, Body: "Bulk " + string(rune('a'+i))}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Five texts at 10 a second from one sender take at least 0.4 s: a
	// lower bound, which a busy machine cannot break.
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Errorf("5 texts at 10/s took %v, want at least 400ms", took)
	}
	// A Send whose context ends while it waits for its slot returns the
	// context's error and sends nothing.
	if _, err := h.r.Send(ctx, relay.Text{To: customer, From: slow, Body: "take a slot"}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := h.r.Send(short, relay.Text{To: customer, From: slow, Body: "too late"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send waiting past its context = %v, want DeadlineExceeded", err)
	}
	for _, m := range h.sent() {
		if m.Body == "too late" {
			t.Error("a Send whose context ended while paced was sent")
		}
	}
}
