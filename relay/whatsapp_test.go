package relay_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

const (
	waCustomer  = "whatsapp:" + customer
	waOurNumber = "whatsapp:" + ourNumber
	templateSID = "HX0123456789abcdef0123456789abcdef"
)

func withTemplate(c *relay.Config, _ *intercomtest.Server) {
	c.WhatsAppTemplate = &relay.WhatsAppTemplate{ContentSID: templateSID, Variables: map[string]string{"1": "Acme support"}}
}

func TestReplyOutsideTheWhatsAppWindowSendsTheTemplateOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, withTemplate)
	h.textForm(twiliotest.InboundForm(waCustomer, waOurNumber, "Hola"))
	h.drain()
	c := h.onlyConversation()
	ctx := context.Background()
	// Two replies fail at Twilio after the window closed.
	for i, body := range []string{"Sorry for the wait!", "Are you still there?"} {
		h.reply(c.ID, body)
		h.drain()
		sid := h.sent()[len(h.sent())-1].SID
		if _, err := h.tw.SendStatus(ctx, sid, "undelivered", twiliosms.CodeOutsideWindow); err != nil {
			t.Fatal(err)
		}
		h.drain()
		if i == 0 {
			// Replies are sent as written; the template follows the failure.
			if msgs := h.sent(); len(msgs) != 2 || msgs[1].ContentSID != templateSID || msgs[1].To != waCustomer ||
				msgs[1].From != waOurNumber || msgs[1].ContentVariables != `{"1":"Acme support"}` {
				t.Fatalf("sent %+v, want the reply then the template", msgs)
			}
		}
	}
	templates := 0
	for _, m := range h.sent() {
		if m.ContentSID != "" {
			templates++
		}
	}
	if templates != 1 {
		t.Errorf("sent %d templates, want one a day", templates)
	}
	ns := notes(h.conversation(c.ID))
	var failure, reopened int
	for _, n := range ns {
		if strings.Contains(n, "63016") && strings.Contains(n, "24 hours") {
			failure++
		}
		if strings.Contains(n, "We sent them the template "+templateSID) {
			reopened++
		}
	}
	if failure != 2 || reopened != 1 {
		t.Errorf("notes = %q, want two failures explained and one template noted", ns)
	}
}

func TestRefusedReplyOutsideTheWindowSendsTheTemplate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, withTemplate)
	h.textForm(twiliotest.InboundForm(waCustomer, waOurNumber, "Hola"))
	h.drain()
	c := h.onlyConversation()
	h.tw.FailNext(twiliosms.CodeOutsideWindow, 400)
	h.reply(c.ID, "Hello again")
	h.drain()
	if msgs := h.sent(); len(msgs) != 1 || msgs[0].ContentSID != templateSID {
		t.Errorf("sent %+v, want the template only", msgs)
	}
}

func TestWithoutATemplateTheAgentIsToldOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	h.textForm(twiliotest.InboundForm(waCustomer, waOurNumber, "Hola"))
	h.drain()
	c := h.onlyConversation()
	h.tw.FailNext(twiliosms.CodeOutsideWindow, 400)
	h.reply(c.ID, "Hello again")
	h.drain()
	if n := len(h.sent()); n != 0 {
		t.Errorf("sent %d messages, want none", n)
	}
	if ns := notes(h.conversation(c.ID)); len(ns) != 1 || !strings.Contains(ns[0], "approved message template") {
		t.Errorf("notes = %q, want the window explained", ns)
	}
}

func TestSendOnWhatsAppNeedsATemplateOutsideTheWindow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	_, err := h.r.Send(ctx, relay.Text{To: waCustomer, From: waOurNumber, Body: "Your order shipped"})
	if !errors.Is(err, relay.ErrOutsideWindow) {
		t.Fatalf("free-form Send to a customer who never wrote = %v, want ErrOutsideWindow", err)
	}
	sent, err := h.r.Send(ctx, relay.Text{To: waCustomer, From: waOurNumber, ContentSID: templateSID, ContentVariables: map[string]string{"1": "#1042"}})
	if err != nil {
		t.Fatal(err)
	}
	if msgs := h.sent(); len(msgs) != 1 || msgs[0].ContentSID != templateSID || sent.Segments != 0 {
		t.Errorf("sent %+v (%+v), want the template", msgs, sent)
	}
	for _, bad := range []relay.Text{
		{To: waCustomer, From: waOurNumber, ContentSID: "HX1"},
		{To: waCustomer, From: waOurNumber, ContentSID: templateSID, Body: "both"},
		{To: waCustomer, From: waOurNumber, Body: "x", ContentVariables: map[string]string{"1": "a"}},
	} {
		if _, err := h.r.Send(ctx, bad); !errors.Is(err, relay.ErrInvalidText) {
			t.Errorf("Send(%+v) = %v, want ErrInvalidText", bad, err)
		}
	}
	// Once the customer writes, free-form texts go.
	h.textForm(twiliotest.InboundForm(waCustomer, waOurNumber, "Thanks, when?"))
	h.drain()
	if _, err := h.r.Send(ctx, relay.Text{To: waCustomer, From: waOurNumber, Body: "Friday"}); err != nil {
		t.Errorf("Send within the window: %v", err)
	}
	h.drain()
	if ns := h.contactNotes(customer); len(ns) != 2 || !strings.Contains(ns[0], templateSID) {
		t.Errorf("contact notes = %q, want the template and the text", ns)
	}
}

func TestWhatsAppTemplateConfigIsValidated(t *testing.T) {
	t.Parallel()
	_, err := relay.New(relay.Config{WhatsAppTemplate: &relay.WhatsAppTemplate{ContentSID: "nope"}})
	if err == nil || !strings.Contains(err.Error(), "WhatsAppTemplate.ContentSID") {
		t.Errorf("New = %v, want a WhatsAppTemplate problem", err)
	}
}
