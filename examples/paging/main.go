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
	"net/http"
	"os"

	"github.com/smsrelay/smsrelay/examples/internal/demo"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
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
	fakes, err := demo.Start(demo.Options{Intercom: []intercomtest.Option{intercomtest.WithAppID(workspace)}})
	if err != nil {
		return err
	}
	defer fakes.Close()
	ic, tw := fakes.IC, fakes.TW
	cfg := fakes.Config()
	cfg.NoteAuthor = botAdmin
	cfg.DefaultRoute = relay.Route{AdminID: agentID}
	cfg.Paging = relay.Paging{
		AgentPhones: map[string]string{agentID: agentPhone},
		WorkspaceID: workspace,
		// Tag: "urgent" and AckWindow: 30 minutes are the defaults;
		// After: 10 * time.Minute would also page on a text left
		// waiting that long.
	}
	host, err := fakes.Serve(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer host.Close()

	text := func(from, body string) error {
		fmt.Printf("SMS %s → %s: %q\n", from, ourNumber, body)
		if err := host.Text(ctx, from, ourNumber, body); err != nil {
			return fmt.Errorf("inbound webhook: %w", err)
		}
		return nil
	}

	// 1. The customer texts; the conversation goes to the agent.
	if err := text(customer, "I was charged twice for order 1042\nPlease refund one"); err != nil {
		return err
	}
	conv, err := demo.WaitFor(func() (intercomtest.Conversation, bool) {
		cs := ic.Conversations()
		return demo.FirstOr(cs), len(cs) == 1 && cs[0].AdminAssigneeID == agentID
	})
	if err != nil {
		return fmt.Errorf("the text did not reach the inbox: %w", err)
	}
	fmt.Printf("  Intercom: conversation %s, assigned to admin %s\n\n", conv.ID, conv.AdminAssigneeID)

	// 2. A teammate tags it urgent: Intercom posts conversation_part.tag.created.
	fmt.Printf("Intercom: a teammate tags conversation %s \"urgent\"\n", conv.ID)
	if _, status, err := ic.TagConversation(ctx, host.IntercomWebhook(), conv.ID, "991267002", "urgent"); err != nil || status != http.StatusOK {
		return fmt.Errorf("tag webhook: %d %v", status, err)
	}
	page, err := demo.WaitFor(func() (twiliotest.SentMessage, bool) {
		ms := tw.Messages()
		return demo.FirstOr(ms), len(ms) == 1
	})
	if err != nil {
		return fmt.Errorf("no page: %w", err)
	}
	fmt.Printf("  page SMS %s → %s:\n    %q\n\n", page.From, page.To, page.Body)

	// 3. The agent texts back from their phone to the number the page came from.
	if err := text(agentPhone, "On it, calling them now"); err != nil {
		return err
	}
	conv, err = demo.WaitFor(func() (intercomtest.Conversation, bool) {
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

	dead, err := host.Stop(context.Background())
	if err != nil {
		return err
	}
	if err := demo.Failed(dead); err != nil {
		return err
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
