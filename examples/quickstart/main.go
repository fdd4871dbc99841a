// Command quickstart runs the whole smsrelay flow in one process, against
// the fake Twilio and Intercom APIs that ship with the library, with no
// credentials and no network: a customer texts, the text becomes an Intercom
// conversation, a second text threads into it, an agent writes an internal
// note (kept back) and a reply (sent), and the reply arrives as SMS.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
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

	// The two fake APIs.
	ic := intercomtest.NewServer()
	defer ic.Close()
	tw := twiliotest.NewServer()
	defer tw.Close()

	// The clients, pointed at the fakes.
	icClient, err := intercom.NewClient(ic.Token, intercom.WithBaseURL(ic.URL), intercom.WithHTTPClient(ic.Client()))
	if err != nil {
		return err
	}
	twClient, err := twiliosms.NewClient(tw.AccountSID, tw.AuthToken, twiliosms.WithBaseURL(tw.URL), twiliosms.WithHTTPClient(tw.Client()))
	if err != nil {
		return err
	}

	// The host application's HTTP server, with the relay mounted in it.
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
		PollInterval:     10 * time.Millisecond,
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

	fmt.Printf("smsrelay quickstart: relay at %s, fake Intercom at %s, fake Twilio at %s\n\n", publicURL, ic.URL, tw.URL)

	// 1. The customer texts.
	if err := text(ctx, tw, publicURL, "Hi! My parcel hasn't arrived yet."); err != nil {
		return err
	}
	conv, err := waitFor(func() (intercomtest.Conversation, bool) {
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
	if err := text(ctx, tw, publicURL, "It's order 1234."); err != nil {
		return err
	}
	conv, err = waitFor(func() (intercomtest.Conversation, bool) {
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
	if _, status, err := ic.AdminNote(ctx, publicURL+"/intercom/webhooks", conv.ID, agentID, note); err != nil || status != http.StatusOK {
		return fmt.Errorf("note webhook: status %d: %v", status, err)
	}

	// 4. The agent replies: it must reach the phone.
	reply := "<p>Sorry about that! Your parcel is out for delivery today.</p><p>Track it at https://example.com/t/1234</p>"
	fmt.Printf("agent (reply): %q\n", reply)
	if _, status, err := ic.AdminReply(ctx, publicURL+"/intercom/webhooks", conv.ID, agentID, reply); err != nil || status != http.StatusOK {
		return fmt.Errorf("reply webhook: status %d: %v", status, err)
	}
	sms, err := waitFor(func() (twiliotest.SentMessage, bool) {
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
	cancel()
	if err := <-runDone; err != nil {
		return err
	}
	if n := len(tw.Messages()); n != 1 {
		return fmt.Errorf("%d texts were sent, want exactly 1: the note must not leave Intercom", n)
	}
	dead, err := r.DeadLetters(context.Background(), 10)
	if err != nil {
		return err
	}
	fmt.Printf("\ndone: %d contact, %d conversation, %d SMS sent, internal note kept back, %d dead letters\n",
		len(ic.Contacts()), len(ic.Conversations()), len(tw.Messages()), len(dead))
	if len(dead) > 0 {
		return errors.New("some jobs failed: " + dead[0].LastError)
	}
	return nil
}

// text plays Twilio delivering the customer's text to the relay.
func text(ctx context.Context, tw *twiliotest.Server, publicURL, body string) error {
	fmt.Printf("customer %s → %s: %q\n", customer, ourNumber, body)
	status, _, err := twiliotest.Post(ctx, nil, tw.AuthToken, publicURL+"/twilio/messages", twiliotest.InboundForm(customer, ourNumber, body))
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("the relay answered Twilio with status %d", status)
	}
	return nil
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
