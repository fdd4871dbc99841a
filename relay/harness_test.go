package relay_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

const (
	ourNumber = "+14155550100"
	adminID   = "991267001"
	noteAdmin = "991267999"
)

// harness runs a Relay on an httptest server against fake Intercom and
// Twilio APIs.
type harness struct {
	t     testing.TB
	ic    *intercomtest.Server
	tw    *twiliotest.Server
	st    *memstore.Store
	r     *relay.Relay
	srv   *httptest.Server
	token string // Twilio auth token
}

func newHarness(t testing.TB, icOpts []intercomtest.Option, configure func(*relay.Config, *intercomtest.Server)) *harness {
	t.Helper()
	ic := intercomtest.NewServer(icOpts...)
	t.Cleanup(ic.Close)
	tw := twiliotest.NewServer()
	t.Cleanup(tw.Close)

	icClient, err := intercom.NewClient(ic.Token,
		intercom.WithBaseURL(ic.URL),
		intercom.WithHTTPClient(ic.Client()),
		intercom.WithRetry(intercom.RetryPolicy{MaxAttempts: 2, InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	twClient, err := twiliosms.NewClient(tw.AccountSID, tw.AuthToken,
		twiliosms.WithBaseURL(tw.URL), twiliosms.WithHTTPClient(tw.Client()))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ic: ic, tw: tw, st: memstore.New(), token: tw.AuthToken}
	mux := http.NewServeMux()
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)

	cfg := relay.Config{
		Intercom:         icClient,
		Twilio:           twClient,
		Store:            h.st,
		PublicURL:        h.srv.URL,
		TwilioAuthTokens: []string{tw.AuthToken},
		WebhookSecrets:   []string{ic.ClientSecret},
		NoteAuthor:       noteAdmin,
		RetryBase:        time.Millisecond,
		RetryMax:         5 * time.Millisecond,
		PollInterval:     5 * time.Millisecond,
	}
	if configure != nil {
		configure(&cfg, ic)
	}
	h.r, err = relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("POST /twilio/messages", h.r.TwilioHandler())
	mux.Handle("POST /twilio/status", h.r.StatusHandler())
	mux.Handle("POST /intercom/webhooks", h.r.IntercomHandler())
	return h
}

func (h *harness) webhookURL() string { return h.srv.URL + "/intercom/webhooks" }

// text posts a signed inbound message webhook and checks the TwiML answer.
func (h *harness) text(from, body string, media ...twiliosms.Media) url.Values {
	h.t.Helper()
	return h.textForm(twiliotest.InboundForm(from, ourNumber, body, media...))
}

func (h *harness) textForm(form url.Values) url.Values {
	h.t.Helper()
	status, body, err := twiliotest.Post(context.Background(), h.srv.Client(), h.token, h.srv.URL+"/twilio/messages", form)
	if err != nil {
		h.t.Fatal(err)
	}
	if status != http.StatusOK || !strings.Contains(string(body), "<Response/>") {
		h.t.Fatalf("inbound webhook answered %d %q, want 200 with an empty TwiML response", status, body)
	}
	return form
}

// drain runs jobs until none is ready, retrying for jobs waiting on a short
// retry delay.
func (h *harness) drain() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ran, err := h.r.RunOnce(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		if ran {
			continue
		}
		s, err := h.r.Stats(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		if s.Ready == 0 && s.Leased == 0 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	h.t.Fatal("queue did not drain in 10s")
}

// onlyConversation returns the one conversation the fake holds.
func (h *harness) onlyConversation() intercomtest.Conversation {
	h.t.Helper()
	convs := h.ic.Conversations()
	if len(convs) != 1 {
		h.t.Fatalf("Intercom holds %d conversations, want 1", len(convs))
	}
	return convs[0]
}

func (h *harness) conversation(id string) intercomtest.Conversation {
	h.t.Helper()
	c, ok := h.ic.Conversation(id)
	if !ok {
		h.t.Fatalf("conversation %s not found", id)
	}
	return c
}

// notes returns the bodies of the conversation's internal notes.
func notes(c intercomtest.Conversation) []string {
	var out []string
	for _, p := range c.Parts {
		if p.PartType == "note" {
			out = append(out, p.Body)
		}
	}
	return out
}

// contactParts returns the bodies of what the customer wrote: the source and
// their replies.
func contactParts(c intercomtest.Conversation) []string {
	out := []string{c.Source.Body}
	for _, p := range c.Parts {
		if p.Author.Type == "user" || p.Author.Type == "lead" || p.Author.Type == "contact" {
			out = append(out, p.Body)
		}
	}
	return out
}

func (h *harness) reply(convID, body string, attachments ...string) string {
	h.t.Helper()
	partID, status, err := h.ic.AdminReply(context.Background(), h.webhookURL(), convID, adminID, body, attachments...)
	if err != nil {
		h.t.Fatal(err)
	}
	if status != http.StatusOK {
		h.t.Fatalf("Intercom webhook answered %d, want 200", status)
	}
	return partID
}

func (h *harness) sent() []twiliotest.SentMessage { return h.tw.Messages() }
