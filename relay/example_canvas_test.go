package relay_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// The Inbox app: an agent texts the customer of a web chat from the
// conversation details panel. intercomtest plays the Inbox's signed
// Canvas Kit requests.
func ExampleRelay_CanvasSubmitHandler() {
	ic := intercomtest.NewServer()
	defer ic.Close()
	tw := twiliotest.NewServer()
	defer tw.Close()
	icClient, _ := intercom.NewClient(ic.Token, intercom.WithBaseURL(ic.URL))
	twClient, _ := twiliosms.NewClient(tw.AccountSID, tw.AuthToken, twiliosms.WithBaseURL(tw.URL))
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	r, err := relay.New(relay.Config{
		Intercom: icClient, Twilio: twClient, Store: memstore.New(), PublicURL: srv.URL,
		TwilioAuthTokens: []string{tw.AuthToken}, WebhookSecrets: []string{ic.ClientSecret},
		NoteAuthor: "991267999", DefaultFrom: "+14155550100",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux.Handle("POST /intercom/canvas/initialize", r.CanvasInitializeHandler())
	mux.Handle("POST /intercom/canvas/submit", r.CanvasSubmitHandler())

	// A web chat with a customer whose profile has a phone number.
	ct, _ := ic.AddContact(intercomtest.Contact{Role: "user", Phone: "+14155550123"})
	chat, _ := ic.StartConversation(ct.ID, "Hi, I'm on your site")

	ctx := context.Background()
	_, canvas, _ := ic.CanvasInitialize(ctx, srv.URL+"/intercom/canvas/initialize", chat.ID, "991267001")
	for _, c := range canvas.Content.Components {
		fmt.Printf("%s %s%s\n", c.Type, c.Text, c.Label)
	}
	_, canvas, _ = ic.CanvasSubmit(ctx, srv.URL+"/intercom/canvas/submit", chat.ID, "991267001", "send",
		map[string]string{"message": "Leaving the site? We can carry on by text."}, canvas)
	fmt.Println(canvas.Content.Components[0].Text)
	for ran, _ := r.RunOnce(ctx); ran; ran, _ = r.RunOnce(ctx) {
	}
	sms := tw.Messages()[0]
	fmt.Printf("SMS %s → %s: %s\n", sms.From, sms.To, sms.Body)
	// Output:
	// text Text this customer
	// text To +14155550123 from +14155550100
	// text Opted in to texts
	// textarea Message
	// button Count segments
	// button Send SMS
	// Sending by SMS
	// SMS +14155550100 → +14155550123: Leaving the site? We can carry on by text.
}
