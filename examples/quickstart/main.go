// Command quickstart runs the whole smsrelay flow in one process, against
// the fake Twilio and Intercom APIs that ship with the library, with no
// credentials and no network: a customer texts, the text becomes an Intercom
// conversation, a second text threads into it, an agent writes an internal
// note (kept back) and a reply (sent), and the reply arrives as SMS.
// examples/internal/demo starts the fakes and mounts the relay in a local
// HTTP server, as README's "Mount it in your own router" does for real.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/examples/internal/demo"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

const (
	customer  = "+14155550123" // the customer's phone
	ourNumber = "+14155550100" // the company's Twilio number
	agentID   = "991267001"    // the Intercom admin answering
	botAdmin  = "991267999"    // the admin that authors the relay's notes
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The two fake APIs, and the relay's clients pointed at them.
	fakes, err := demo.Start(demo.Options{})
	if err != nil {
		return err
	}
	defer fakes.Close()
	ic, tw := fakes.IC, fakes.TW

	// The host application's HTTP server, with the relay mounted in it.
	cfg := fakes.Config()
	cfg.NoteAuthor = botAdmin
	host, err := fakes.Serve(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer host.Close()

	fmt.Printf("smsrelay quickstart: relay at %s, fake Intercom at %s, fake Twilio at %s\n\n", host.URL, ic.URL, tw.URL)

	// 1. The customer texts.
	if err := text(ctx, host, "Hi! My parcel hasn't arrived yet."); err != nil {
		return err
	}
	conv, err := demo.WaitFor(func() (intercomtest.Conversation, bool) {
		cs := ic.Conversations()
		if len(cs) == 1 {
			return cs[0], true
		}
		return intercomtest.Conversation{}, false
	})
	if err != nil {
		return fmt.Errorf("no conversation appeared in Intercom: %w", err)
	}
	contacts := ic.Contacts()
	fmt.Printf("  Intercom: new conversation %s from lead %s (%s): %q\n", conv.ID, contacts[0].ID, contacts[0].Phone, plain(conv.Source.Body))

	// 2. A second text threads into the same conversation.
	if err := text(ctx, host, "It's order 1234."); err != nil {
		return err
	}
	conv, err = demo.WaitFor(func() (intercomtest.Conversation, bool) {
		c, _ := ic.Conversation(conv.ID)
		return c, len(customerParts(c)) == 2
	})
	if err != nil {
		return fmt.Errorf("the second text did not thread: %w", err)
	}
	fmt.Printf("  Intercom: threaded into conversation %s, now %d messages from the customer, %d conversation(s) in all\n",
		conv.ID, len(customerParts(conv)), len(ic.Conversations()))

	// 3. The agent writes an internal note: it must stay in Intercom.
	note := "VIP customer, check with the courier first."
	fmt.Printf("\nagent (internal note): %q\n", note)
	if _, status, err := ic.AdminNote(ctx, host.IntercomWebhook(), conv.ID, agentID, note); err != nil || status != http.StatusOK {
		return fmt.Errorf("note webhook: status %d: %v", status, err)
	}

	// 4. The agent replies: it must reach the phone.
	reply := "<p>Sorry about that! Your parcel is out for delivery today.</p><p>Track it at https://example.com/t/1234</p>"
	fmt.Printf("agent (reply): %q\n", reply)
	if _, status, err := ic.AdminReply(ctx, host.IntercomWebhook(), conv.ID, agentID, reply); err != nil || status != http.StatusOK {
		return fmt.Errorf("reply webhook: status %d: %v", status, err)
	}
	sms, err := demo.WaitFor(func() (twiliotest.SentMessage, bool) {
		ms := tw.Messages()
		if len(ms) > 0 {
			return ms[0], true
		}
		return twiliotest.SentMessage{}, false
	})
	if err != nil {
		return fmt.Errorf("the reply never reached Twilio: %w", err)
	}
	fmt.Printf("  SMS %s → %s (%s): %q\n", sms.From, sms.To, sms.SID, sms.Body)

	// Let the workers settle, then check nothing else went out.
	time.Sleep(200 * time.Millisecond)
	dead, err := host.Stop(context.Background())
	if err != nil {
		return err
	}
	if n := len(tw.Messages()); n != 1 {
		return fmt.Errorf("%d texts were sent, want exactly 1: the note must not leave Intercom", n)
	}
	fmt.Printf("\ndone: %d contact, %d conversation, %d SMS sent, internal note kept back, %d dead letters\n",
		len(ic.Contacts()), len(ic.Conversations()), len(tw.Messages()), len(dead))
	return demo.Failed(dead)
}

// text plays Twilio delivering the customer's text to the relay.
func text(ctx context.Context, host *demo.Host, body string) error {
	fmt.Printf("customer %s → %s: %q\n", customer, ourNumber, body)
	return host.Text(ctx, customer, ourNumber, body)
}

// customerParts counts the customer's messages: the opening one and replies.
func customerParts(c intercomtest.Conversation) []string {
	out := []string{c.Source.Body}
	for _, p := range c.Parts {
		if p.Author.Type == "user" || p.Author.Type == "lead" {
			out = append(out, p.Body)
		}
	}
	return out
}

func plain(htmlBody string) string { return strings.TrimSpace(relay.SMSText(htmlBody)) }
