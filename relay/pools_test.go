package relay_test

import (
	"context"
	"strings"
	"testing"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

const (
	poolService = "MG0123456789abcdef0123456789abcdef"
	poolNumberB = "+14155550111"
)

// pooledText posts a text the customer sent to number to of the pool.
func (h *harness) pooledText(to, body string) {
	h.t.Helper()
	form := twiliotest.InboundForm(customer, to, body)
	form.Set("MessagingServiceSid", poolService)
	h.textForm(form)
}

func TestPoolKeepsTheCustomerOnTheirThreadAcrossNumbers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.MessagingServiceSID = poolService })
	h.pooledText(ourNumber, "Hi, about my booking")
	h.drain()
	c := h.onlyConversation()
	h.reply(c.ID, "Sure, which date?")
	h.drain()
	// The service sent the reply from another number of its pool, which
	// the customer answers.
	h.pooledText(poolNumberB, "The 14th")
	h.drain()
	c = h.onlyConversation()
	if got := contactParts(c); len(got) != 2 || !strings.Contains(got[1], "The 14th") {
		t.Errorf("customer's parts = %q, want both texts on one conversation", got)
	}
	if msgs := h.sent(); len(msgs) != 1 || msgs[0].MessagingServiceSID != poolService {
		t.Errorf("sent %+v, want the reply through the service", msgs)
	}
	// A STOP to any number of the pool stops replies on the thread.
	h.pooledText(poolNumberB, "STOP")
	h.drain()
	h.reply(c.ID, "Still there?")
	h.drain()
	if n := len(h.sent()); n != 1 {
		t.Errorf("sent %d texts, want the reply after STOP withheld", n)
	}
}

func TestExistingThreadCarriesOverToThePool(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.MessagingServiceSID = poolService })
	// Before the number joined the service: a thread on the number, opted out.
	h.text(customer, "Hello")
	h.drain()
	c := h.onlyConversation()
	h.text(customer, "STOP")
	h.drain()
	// Now the number is in the pool.
	h.pooledText(ourNumber, "START")
	h.drain()
	h.pooledText(poolNumberB, "Are you there?")
	h.drain()
	if convs := h.ic.Conversations(); len(convs) != 1 {
		t.Fatalf("%d conversations, want the old one carried over", len(convs))
	}
	if got := contactParts(h.conversation(c.ID)); len(got) != 4 {
		t.Errorf("customer's parts = %q, want all four texts on the old conversation", got)
	}
	h.reply(c.ID, "Yes!")
	h.drain()
	if msgs := h.sent(); len(msgs) != 1 || msgs[0].Body != "Yes!" {
		t.Errorf("sent %+v, want the reply after START", msgs)
	}
}

func TestOptOutCarriesOverToThePool(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.MessagingServiceSID = poolService })
	h.text(customer, "Hello")
	h.drain()
	h.text(customer, "STOP")
	h.drain()
	h.pooledText(ourNumber, "one more thing")
	h.drain()
	c := h.onlyConversation()
	h.reply(c.ID, "Yes?")
	h.drain()
	if n := len(h.sent()); n != 0 {
		t.Errorf("sent %d texts to a customer who opted out before the pool", n)
	}
}

func TestSendThroughThePoolThreadsTheAnswer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.MessagingServiceSID = poolService })
	sent, err := h.r.Send(context.Background(), relay.Text{To: customer, Body: "Your appointment is tomorrow at 10."})
	if err != nil {
		t.Fatal(err)
	}
	if msgs := h.sent(); len(msgs) != 1 || msgs[0].MessagingServiceSID != poolService || msgs[0].From != "" || sent.From != "" {
		t.Fatalf("sent %+v (%+v), want it through the service", msgs, sent)
	}
	h.drain()
	h.pooledText(poolNumberB, "Can we make it 11?")
	h.drain()
	if ns := notes(h.onlyConversation()); len(ns) != 1 || !strings.Contains(ns[0], "appointment is tomorrow") {
		t.Errorf("notes = %q, want the answer noted with the text sent first", ns)
	}
}
