// Command paging is the third quickstart: paging an agent by SMS. It runs
// in one process against the fake Twilio and Intercom APIs that ship with
// the library, with no credentials and no network. A customer texts; the
// conversation is assigned to an agent; a teammate tags it urgent in
// Intercom; the agent's phone gets a page from the number the customer
// texted; the agent texts back, and the inbox shows their answer as an
// internal note authored by them, with a note that the page was
// acknowledged. The customer gets nothing of it.
//
//	go run ./examples/paging
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

const (
	customer   = "+14155550123" // the customer's phone
	ourNumber  = "+14155550100" // the company's Twilio number
	agentID    = "991267001"    // the Intercom admin on the conversation
	agentPhone = "+14155550177" // their mobile, from configuration
	botAdmin   = "991267999"    // the admin that authors the relay's notes
	workspace  = "abc123de"     // the Intercom workspace id, for inbox links
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "paging:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ic := intercomtest.NewServer(intercomtest.WithAppID(workspace))
	defer ic.Close()
	tw := twiliotest.NewServer()
	defer tw.Close()
	icClient, err := intercom.NewClient(ic.Token, intercom.WithBaseURL(ic.URL), intercom.WithHTTPClient(ic.Client()))
	if err != nil {
		return err
	}
	twClient, err := twiliosms.NewClient(tw.AccountSID, tw.AuthToken, twiliosms.WithBaseURL(tw.URL), twiliosms.WithHTTPClient(tw.Client()))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	publicURL := "http://" + ln.Addr().String()
	r, err := relay.New(relay.Config{
		Intercom:         icClient,
		Twilio:           twClient,
		Store:            memstore.New(),
		PublicURL:        publicURL,
		TwilioAuthTokens: []string{tw.AuthToken},
		WebhookSecrets:   []string{ic.ClientSecret},
		NoteAuthor:       botAdmin,
		DefaultRoute:     relay.Route{AdminID: agentID},
		Paging: relay.Paging{
			AgentPhones: map[string]string{agentID: agentPhone},
			WorkspaceID: workspace,
			// Tag: "urgent" and AckWindow: 30 minutes are the defaults;
			// After: 10 * time.Minute would also page on a text left
			// waiting that long.
		},
		PollInterval: 10 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	mux.Handle("POST /twilio/status", r.StatusHandler())
	mux.Handle("POST /intercom/webhooks", r.IntercomHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(ctx) }()

	text := func(from, body string) error {
		fmt.Printf("SMS %s → %s: %q\n", from, ourNumber, body)
		status, _, err := twiliotest.Post(ctx, nil, tw.AuthToken, publicURL+"/twilio/messages", twiliotest.InboundForm(from, ourNumber, body))
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("inbound webhook: %d %v", status, err)
		}
		return nil
	}

	// 1. The customer texts; the conversation goes to the agent.
	if err := text(customer, "I was charged twice for order 1042\nPlease refund one"); err != nil {
		return err
	}
	conv, err := waitFor(func() (intercomtest.Conversation, bool) {
		cs := ic.Conversations()
		return firstOr(cs), len(cs) == 1 && cs[0].AdminAssigneeID == agentID
	})
	if err != nil {
		return fmt.Errorf("the text did not reach the inbox: %w", err)
	}
	fmt.Printf("  Intercom: conversation %s, assigned to admin %s\n\n", conv.ID, conv.AdminAssigneeID)

	// 2. A teammate tags it urgent: Intercom posts conversation_part.tag.created.
	fmt.Printf("Intercom: a teammate tags conversation %s \"urgent\"\n", conv.ID)
	if _, status, err := ic.TagConversation(ctx, publicURL+"/intercom/webhooks", conv.ID, "991267002", "urgent"); err != nil || status != http.StatusOK {
		return fmt.Errorf("tag webhook: %d %v", status, err)
	}
	page, err := waitFor(func() (twiliotest.SentMessage, bool) {
		ms := tw.Messages()
		return firstOr(ms), len(ms) == 1
	})
	if err != nil {
		return fmt.Errorf("no page: %w", err)
	}
	fmt.Printf("  page SMS %s → %s:\n    %q\n\n", page.From, page.To, page.Body)

	// 3. The agent texts back from their phone to the number the page came from.
	if err := text(agentPhone, "On it, calling them now"); err != nil {
		return err
	}
	conv, err = waitFor(func() (intercomtest.Conversation, bool) {
		c, _ := ic.Conversation(conv.ID)
		return c, len(notes(c)) == 2
	})
	if err != nil {
		return fmt.Errorf("the acknowledgement did not reach the inbox: %w", err)
	}
	for _, p := range conv.Parts {
		if p.PartType == "note" {
			fmt.Printf("  Intercom: internal note by admin %s: %q\n", p.Author.ID, relay.SMSText(p.Body))
		}
	}

	cancel()
	if err := <-runDone; err != nil {
		return err
	}
	dead, err := r.DeadLetters(context.Background(), 10)
	if err != nil {
		return err
	}
	if len(dead) > 0 {
		return errors.New("some jobs failed: " + dead[0].LastError)
	}
	for _, c := range ic.Contacts() {
		if c.Phone == agentPhone {
			return errors.New("the agent's phone became an Intercom contact")
		}
	}
	for _, m := range tw.Messages() {
		if m.To == customer {
			return fmt.Errorf("the customer got a text: %q", m.Body)
		}
	}
	fmt.Printf("\ndone: %d contact, %d conversation, %d SMS sent (the page), none to the customer\n",
		len(ic.Contacts()), len(ic.Conversations()), len(tw.Messages()))
	return nil
}

func notes(c intercomtest.Conversation) []string {
	var out []string
	for _, p := range c.Parts {
		if p.PartType == "note" {
			out = append(out, p.Body)
		}
	}
	return out
}

func firstOr[T any](s []T) T {
	var zero T
	if len(s) == 0 {
		return zero
	}
	return s[0]
}

// waitFor polls cond for up to five seconds.
func waitFor[T any](cond func() (T, bool)) (T, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, ok := cond()
		if ok {
			return v, nil
		}
		if time.Now().After(deadline) {
			return v, errors.New("timed out after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
