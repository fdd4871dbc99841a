package relay_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// Texting a customer first: the text is noted on their contact, and their
// answer lands in the Intercom inbox with a note quoting what was sent.
func ExampleRelay_Send() {
	ic := intercomtest.NewServer()
	defer ic.Close()
	tw := twiliotest.NewServer()
	defer tw.Close()
	icClient, _ := intercom.NewClient(ic.Token, intercom.WithBaseURL(ic.URL))
	twClient, _ := twiliosms.NewClient(tw.AccountSID, tw.AuthToken, twiliosms.WithBaseURL(tw.URL))
	tag, _ := ic.AddTag("sms-reply")

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	r, err := relay.New(relay.Config{
		Intercom:         icClient,
		Twilio:           twClient,
		Store:            memstore.New(),
		PublicURL:        srv.URL,
		TwilioAuthTokens: []string{tw.AuthToken},
		WebhookSecrets:   []string{ic.ClientSecret},
		NoteAuthor:       "991267999",
		DefaultFrom:      "+14155550100",
		AnswerTagID:      tag.ID,
		Cost:             relay.CostGuard{Transliterate: true},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	mux.Handle("POST /twilio/status", r.StatusHandler())
	mux.Handle("POST /intercom/webhooks", r.IntercomHandler())
	ctx := context.Background()
	drain := func() {
		for ran, _ := r.RunOnce(ctx); ran; ran, _ = r.RunOnce(ctx) {
		}
	}

	sent, err := r.Send(ctx, relay.Text{
		To:             "+14155550123",
		Body:           "Your order #1042 has shipped — it’ll arrive Friday.",
		IdempotencyKey: "order-1042-shipped",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("sent %d %s segment(s): %s\n", sent.Segments, sent.Encoding, tw.Messages()[0].Body)
	drain()
	lead := ic.Contacts()[0]
	fmt.Println("noted on", lead.Role, lead.Phone)

	// The customer answers.
	form := twiliotest.InboundForm("+14155550123", "+14155550100", "Can you leave it with a neighbour?")
	twiliotest.Post(ctx, nil, tw.AuthToken, srv.URL+"/twilio/messages", form)
	drain()
	conv := ic.Conversations()[0]
	fmt.Println("conversation:", relay.SMSText(conv.Source.Body))
	fmt.Println("tagged:", conv.Tags[0].Name)
	note := strings.Split(relay.SMSText(conv.Parts[len(conv.Parts)-1].Body), "\n")
	fmt.Println("note quotes:", note[len(note)-1])

	// Customers who opted out are refused.
	twiliotest.Post(ctx, nil, tw.AuthToken, srv.URL+"/twilio/messages", twiliotest.InboundForm("+14155550123", "+14155550100", "STOP"))
	drain()
	_, err = r.Send(ctx, relay.Text{To: "+14155550123", Body: "Sale!"})
	fmt.Println(errors.Is(err, relay.ErrOptedOut))
	// Output:
	// sent 1 GSM-7 segment(s): Your order #1042 has shipped - it'll arrive Friday.
	// noted on lead +14155550123
	// conversation: Can you leave it with a neighbour?
	// tagged: sms-reply
	// note quotes: Your order #1042 has shipped - it'll arrive Friday.
	// true
}
