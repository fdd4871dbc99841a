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
	"fmt"
	"net/http"
	"os"
	"strings"

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
		fmt.Fprintln(os.Stderr, "textfirst:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fakes, err := demo.Start(demo.Options{})
	if err != nil {
		return err
	}
	defer fakes.Close()
	ic, tw := fakes.IC, fakes.TW
	tag, err := ic.AddTag("sms-reply") // made once in Intercom's settings
	if err != nil {
		return err
	}
	cfg := fakes.Config()
	cfg.NoteAuthor = botAdmin
	cfg.DefaultFrom = ourNumber
	cfg.AnswerTagID = tag.ID
	cfg.Cost = relay.CostGuard{Transliterate: true, MaxSegments: 2}
	// What examples/server mounts behind SMSRELAY_ADMIN_TOKEN, in short.
	host, err := fakes.Serve(ctx, cfg, func(mux *http.ServeMux, r *relay.Relay) {
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
	})
	if err != nil {
		return err
	}
	defer host.Close()

	// 1. The shop texts first.
	body := `{"To": "` + customer + `", "Body": "Hi! Your order #1042 has shipped – it’ll arrive Friday. Questions? Just reply.", "IdempotencyKey": "order-1042-shipped"}`
	fmt.Printf("POST /admin/messages %s\n", body)
	resp, err := http.Post(host.URL+"/admin/messages", "application/json", strings.NewReader(body))
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
	lead, err := demo.WaitFor(func() (intercomtest.Contact, bool) {
		cs := ic.Contacts()
		return demo.FirstOr(cs), len(cs) == 1 && len(ic.ContactNotes(cs[0].ID)) == 1
	})
	if err != nil {
		return fmt.Errorf("the text was not noted in Intercom: %w", err)
	}
	fmt.Printf("  Intercom: noted on %s %s: %q\n\n", lead.Role, lead.ID, relay.SMSText(ic.ContactNotes(lead.ID)[0].Body))

	// 2. The customer answers.
	fmt.Printf("customer %s → %s: %q\n", customer, ourNumber, "Can you leave it with a neighbour?")
	if err := host.Text(ctx, customer, ourNumber, "Can you leave it with a neighbour?"); err != nil {
		return fmt.Errorf("inbound webhook: %w", err)
	}
	conv, err := demo.WaitFor(func() (intercomtest.Conversation, bool) {
		cs := ic.Conversations()
		return demo.FirstOr(cs), len(cs) == 1 && len(cs[0].Tags) == 1
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
	if _, status, err := ic.AdminReply(ctx, host.IntercomWebhook(), conv.ID, agentID, "Of course, we'll tell the courier."); err != nil || status != http.StatusOK {
		return fmt.Errorf("reply webhook: %d %v", status, err)
	}
	reply, err := demo.WaitFor(func() (twiliotest.SentMessage, bool) {
		ms := tw.Messages()
		return ms[len(ms)-1], len(ms) == 2
	})
	if err != nil {
		return fmt.Errorf("the reply never reached Twilio: %w", err)
	}
	fmt.Printf("\nagent reply → SMS %s → %s: %q\n", reply.From, reply.To, reply.Body)

	dead, err := host.Stop(context.Background())
	if err != nil {
		return err
	}
	if err := demo.Failed(dead); err != nil {
		return err
	}
	fmt.Printf("\ndone: %d contact, %d conversation, %d SMS sent\n", len(ic.Contacts()), len(ic.Conversations()), len(tw.Messages()))
	return nil
}
