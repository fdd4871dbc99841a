// Command textfirst is the second quickstart: texting a customer first. It
// runs in one process against the fake Twilio and Intercom APIs that ship
// with the library, with no credentials and no network. The company texts
// a customer an order update (POST /admin/messages, as examples/server
// serves it), the text is noted on the customer's new Intercom lead, the
// customer answers, and the answer lands in the Intercom inbox, tagged
// sms-reply, with a note quoting what was sent; the agent's reply goes
// back by SMS.
//
//	go run ./examples/textfirst
package main

import (
	"context"
	"encoding/json"
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
		fmt.Fprintln(os.Stderr, "textfirst:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ic := intercomtest.NewServer()
	defer ic.Close()
	tw := twiliotest.NewServer()
	defer tw.Close()
	tag, err := ic.AddTag("sms-reply") // made once in Intercom's settings
	if err != nil {
		return err
	}
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
		DefaultFrom:      ourNumber,
		AnswerTagID:      tag.ID,
		Cost:             relay.CostGuard{Transliterate: true, MaxSegments: 2},
		PollInterval:     10 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	mux.Handle("POST /twilio/status", r.StatusHandler())
	mux.Handle("POST /intercom/webhooks", r.IntercomHandler())
	// What examples/server mounts behind SMSRELAY_ADMIN_TOKEN, in short.
	mux.HandleFunc("POST /admin/messages", func(w http.ResponseWriter, req *http.Request) {
		var in struct{ To, Body, IdempotencyKey string }
		if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 64<<10)).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sent, err := r.Send(req.Context(), relay.Text{To: in.To, Body: in.Body, IdempotencyKey: in.IdempotencyKey})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"sid": sent.SID, "segments": sent.Segments, "encoding": sent.Encoding})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(ctx) }()

	// 1. The shop texts first.
	body := `{"To": "` + customer + `", "Body": "Hi! Your order #1042 has shipped – it’ll arrive Friday. Questions? Just reply.", "IdempotencyKey": "order-1042-shipped"}`
	fmt.Printf("POST /admin/messages %s\n", body)
	resp, err := http.Post(publicURL+"/admin/messages", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	var sent map[string]any
	json.NewDecoder(resp.Body).Decode(&sent)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /admin/messages answered %d", resp.StatusCode)
	}
	fmt.Printf("  → %d %v\n", resp.StatusCode, sent)
	sms := tw.Messages()[0]
	fmt.Printf("  SMS %s → %s: %q\n", sms.From, sms.To, sms.Body)
	lead, err := waitFor(func() (intercomtest.Contact, bool) {
		cs := ic.Contacts()
		return firstOr(cs), len(cs) == 1 && len(ic.ContactNotes(cs[0].ID)) == 1
	})
	if err != nil {
		return fmt.Errorf("the text was not noted in Intercom: %w", err)
	}
	fmt.Printf("  Intercom: noted on %s %s: %q\n\n", lead.Role, lead.ID, relay.SMSText(ic.ContactNotes(lead.ID)[0].Body))

	// 2. The customer answers.
	fmt.Printf("customer %s → %s: %q\n", customer, ourNumber, "Can you leave it with a neighbour?")
	if status, _, err := twiliotest.Post(ctx, nil, tw.AuthToken, publicURL+"/twilio/messages",
		twiliotest.InboundForm(customer, ourNumber, "Can you leave it with a neighbour?")); err != nil || status != http.StatusOK {
		return fmt.Errorf("inbound webhook: %d %v", status, err)
	}
	conv, err := waitFor(func() (intercomtest.Conversation, bool) {
		cs := ic.Conversations()
		return firstOr(cs), len(cs) == 1 && len(cs[0].Tags) == 1
	})
	if err != nil {
		return fmt.Errorf("the answer did not reach the inbox: %w", err)
	}
	fmt.Printf("  Intercom: conversation %s tagged %q: %q\n", conv.ID, conv.Tags[0].Name, relay.SMSText(conv.Source.Body))
	for _, p := range conv.Parts {
		if p.PartType == "note" {
			fmt.Printf("  Intercom: internal note: %q\n", relay.SMSText(p.Body))
		}
	}

	// 3. The agent replies on the thread.
	if _, status, err := ic.AdminReply(ctx, publicURL+"/intercom/webhooks", conv.ID, agentID, "Of course, we'll tell the courier."); err != nil || status != http.StatusOK {
		return fmt.Errorf("reply webhook: %d %v", status, err)
	}
	reply, err := waitFor(func() (twiliotest.SentMessage, bool) {
		ms := tw.Messages()
		return ms[len(ms)-1], len(ms) == 2
	})
	if err != nil {
		return fmt.Errorf("the reply never reached Twilio: %w", err)
	}
	fmt.Printf("\nagent reply → SMS %s → %s: %q\n", reply.From, reply.To, reply.Body)

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
	fmt.Printf("\ndone: %d contact, %d conversation, %d SMS sent\n", len(ic.Contacts()), len(ic.Conversations()), len(tw.Messages()))
	return nil
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
