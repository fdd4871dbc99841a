package relay_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
)

// canvasApp mounts the Inbox app's handlers and returns their URLs.
func (h *harness) canvasApp() (initURL, submitURL string) {
	mux := http.NewServeMux()
	mux.Handle("POST /intercom/canvas/initialize", h.r.CanvasInitializeHandler())
	mux.Handle("POST /intercom/canvas/submit", h.r.CanvasSubmitHandler())
	srv := httptest.NewServer(mux)
	h.t.Cleanup(srv.Close)
	return srv.URL + "/intercom/canvas/initialize", srv.URL + "/intercom/canvas/submit"
}

// texts returns the text of a canvas's components, one string.
func texts(c *intercom.Canvas) string {
	var b strings.Builder
	for _, comp := range c.Content.Components {
		b.WriteString(comp.Text + comp.Label + "|")
	}
	return b.String()
}

func hasComponent(c *intercom.Canvas, id string) bool {
	for _, comp := range c.Content.Components {
		if comp.ID == id {
			return true
		}
	}
	return false
}

func TestInboxAppTextsAWebChatCustomerAndTheAnswerThreadsIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.DefaultFrom = ourNumber
		c.Cost = relay.CostGuard{Transliterate: true}
	})
	initURL, submitURL := h.canvasApp()
	ct, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Phone: customer, Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	chat, err := h.ic.StartConversation(ct.ID, "Hi, I'm on your website")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	status, canvas, err := h.ic.CanvasInitialize(ctx, initURL, chat.ID, adminID)
	if err != nil || status != 200 {
		t.Fatalf("initialize: %d %v", status, err)
	}
	if s := texts(canvas); !strings.Contains(s, customer) || !strings.Contains(s, "Opted in") || !hasComponent(canvas, "message") || !hasComponent(canvas, "send") {
		t.Fatalf("initial canvas %q, want the number, opt-out state, a message box and a send button", s)
	}
	msg := map[string]string{"message": "We’ll call you back in 5 minutes — ok?"}
	status, canvas, err = h.ic.CanvasSubmit(ctx, submitURL, chat.ID, adminID, "count", msg, canvas)
	if err != nil || status != 200 || !strings.Contains(texts(canvas), "1 segment(s), GSM-7") {
		t.Fatalf("count: %d %v %q", status, err, texts(canvas))
	}
	status, canvas, err = h.ic.CanvasSubmit(ctx, submitURL, chat.ID, adminID, "send", msg, canvas)
	if err != nil || status != 200 || !strings.Contains(texts(canvas), "Sending by SMS") {
		t.Fatalf("send: %d %v %q", status, err, texts(canvas))
	}
	// A double click sends once.
	if _, _, err := h.ic.CanvasSubmit(ctx, submitURL, chat.ID, adminID, "send", msg, canvas); err != nil {
		t.Fatal(err)
	}
	h.drain()
	sent := h.sent()
	if len(sent) != 1 || sent[0].To != customer || sent[0].From != ourNumber || sent[0].Body != "We'll call you back in 5 minutes - ok?" {
		t.Fatalf("sent %+v, want one text from %s", sent, ourNumber)
	}
	ns := notes(h.conversation(chat.ID))
	if len(ns) != 1 || !strings.Contains(ns[0], "Sent by SMS") {
		t.Errorf("notes = %q, want the send noted", ns)
	}
	// The customer's answer threads into the chat.
	h.text(customer, "Sure, call me")
	h.drain()
	if convs := h.ic.Conversations(); len(convs) != 1 {
		t.Fatalf("%d conversations, want the answer in the chat", len(convs))
	}
	if got := contactParts(h.conversation(chat.ID)); len(got) != 2 || !strings.Contains(got[1], "Sure, call me") {
		t.Errorf("customer's parts = %q", got)
	}
	// And the agent's reply there goes out by SMS.
	h.reply(chat.ID, "Calling now")
	h.drain()
	if sent := h.sent(); len(sent) != 2 || sent[1].Body != "Calling now" {
		t.Errorf("sent %+v, want the reply", sent)
	}
}

func TestInboxAppCanvasesForNoPhoneOptedOutAndEmpty(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.DefaultFrom = ourNumber })
	initURL, submitURL := h.canvasApp()
	ctx := context.Background()
	nophone, _ := h.ic.AddContact(intercomtest.Contact{Role: "user", Email: "ada@example.com"})
	c1, _ := h.ic.StartConversation(nophone.ID, "Hi")
	if _, canvas, err := h.ic.CanvasInitialize(ctx, initURL, c1.ID, adminID); err != nil || !strings.Contains(texts(canvas), "no phone number") || hasComponent(canvas, "send") {
		t.Errorf("no phone: %v %q", err, texts(canvas))
	}
	// An opted-out customer.
	h.text(customer, "STOP")
	h.drain()
	c2 := h.onlyConversationOf(customer)
	if _, canvas, err := h.ic.CanvasInitialize(ctx, initURL, c2, adminID); err != nil || !strings.Contains(texts(canvas), "opted out") || hasComponent(canvas, "send") {
		t.Errorf("opted out: %v %q", err, texts(canvas))
	}
	if _, canvas, err := h.ic.CanvasSubmit(ctx, submitURL, c2, adminID, "send", map[string]string{"message": "Hi"}, nil); err != nil || !strings.Contains(texts(canvas), "opted out") {
		t.Errorf("send to opted out: %v %q", err, texts(canvas))
	}
	// An empty message is marked, not sent.
	ct, _ := h.ic.AddContact(intercomtest.Contact{Role: "user", Phone: "+14155550177"})
	c3, _ := h.ic.StartConversation(ct.ID, "Hi")
	_, canvas, err := h.ic.CanvasSubmit(ctx, submitURL, c3.ID, adminID, "send", map[string]string{"message": "  "}, nil)
	if err != nil {
		t.Fatal(err)
	}
	marked := false
	for _, comp := range canvas.Content.Components {
		marked = marked || comp.ID == "message" && comp.Error
	}
	if !marked {
		t.Errorf("empty message: %q, want the box marked", texts(canvas))
	}
	h.drain()
	if n := len(h.sent()); n != 0 {
		t.Errorf("sent %d texts, want none", n)
	}
}

func TestInboxAppRejectsUnsignedRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.DefaultFrom = ourNumber })
	_, submitURL := h.canvasApp()
	body := `{"conversation":{"id":"1"},"contact":{"id":"x","phone":"+14155550123"},"component_id":"send","input_values":{"message":"hi"}}`
	for _, tc := range []struct {
		sig  string
		want int
	}{{"", 401}, {"00", 403}, {intercom.SignCanvas([]byte(body), "another secret"), 403}, {intercom.SignCanvas([]byte(body+" "), intercomtest.DefaultClientSecret), 403}} {
		req, _ := http.NewRequest(http.MethodPost, submitURL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if tc.sig != "" {
			req.Header.Set(intercom.CanvasSignatureHeader, tc.sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("signature %q: %d, want %d", tc.sig, resp.StatusCode, tc.want)
		}
	}
	h.drain()
	if n := len(h.sent()); n != 0 {
		t.Errorf("sent %d texts, want none", n)
	}
	if s, err := h.r.Stats(context.Background()); err != nil || s.Ready+s.Leased+s.Dead != 0 {
		t.Errorf("queue %+v %v, want nothing queued", s, err)
	}
}

// onlyConversationOf returns the id of the one conversation of the contact
// with phone.
func (h *harness) onlyConversationOf(phone string) string {
	h.t.Helper()
	var id string
	for _, c := range h.ic.Conversations() {
		for _, cid := range c.ContactIDs {
			if ct, ok := h.ic.Contact(cid); ok && ct.Phone == phone {
				if id != "" {
					h.t.Fatalf("several conversations of %s", phone)
				}
				id = c.ID
			}
		}
	}
	if id == "" {
		h.t.Fatalf("no conversation of %s", phone)
	}
	return id
}

func TestInboxAppSendsFromAnAlphanumericSenderStartingWithMG(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.DefaultFrom = "MGMShop" })
	_, submitURL := h.canvasApp()
	ct, _ := h.ic.AddContact(intercomtest.Contact{Role: "user", Phone: "+447700900123"})
	chat, _ := h.ic.StartConversation(ct.ID, "Hi")
	if _, _, err := h.ic.CanvasSubmit(context.Background(), submitURL, chat.ID, adminID, "send", map[string]string{"message": "Hello"}, nil); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if sent := h.sent(); len(sent) != 1 || sent[0].From != "MGMShop" || sent[0].MessagingServiceSID != "" {
		t.Errorf("sent %+v, want it from the sender ID", sent)
	}
}
