package relay_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// A relay wired to the fake Intercom and Twilio APIs: a customer texts, an
// agent replies, the reply goes out as SMS.
func Example() {
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
		Intercom:         icClient,
		Twilio:           twClient,
		Store:            memstore.New(),
		PublicURL:        srv.URL,
		TwilioAuthTokens: []string{tw.AuthToken},
		WebhookSecrets:   []string{ic.ClientSecret},
		NoteAuthor:       "991267999",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	mux.Handle("POST /twilio/status", r.StatusHandler())
	mux.Handle("POST /intercom/webhooks", r.IntercomHandler())

	ctx := context.Background()
	form := twiliotest.InboundForm("+14155550123", "+14155550100", "Is my order on its way?")
	status, body, _ := twiliotest.Post(ctx, nil, tw.AuthToken, srv.URL+"/twilio/messages", form)
	fmt.Println(status, string(body))

	// Run the jobs (a host would run r.Run(ctx) in a goroutine instead).
	for ran, _ := r.RunOnce(ctx); ran; ran, _ = r.RunOnce(ctx) {
	}
	conv := ic.Conversations()[0]
	fmt.Println("conversation:", relay.SMSText(conv.Source.Body))

	ic.AdminReply(ctx, srv.URL+"/intercom/webhooks", conv.ID, "991267001", "<p>Yes, it arrives <b>tomorrow</b>.</p>")
	for ran, _ := r.RunOnce(ctx); ran; ran, _ = r.RunOnce(ctx) {
	}
	sms := tw.Messages()[0]
	fmt.Printf("SMS to %s: %s\n", sms.To, sms.Body)
	// Output:
	// 200 <?xml version="1.0" encoding="UTF-8"?><Response/>
	// conversation: Is my order on its way?
	// SMS to +14155550123: Yes, it arrives tomorrow.
}

// New reports every problem of a configuration at once.
func ExampleNew_configError() {
	_, err := relay.New(relay.Config{PublicURL: "https://support.example.com", RetryBase: -time.Second})
	var ce *relay.ConfigError
	if errors.As(err, &ce) {
		for _, p := range ce.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// Intercom is required
	// Twilio is required
	// Store is required
	// TwilioAuthTokens needs the Twilio auth token
	// WebhookSecrets needs the Intercom app's client secret
	// NoteAuthor (the Intercom admin id that writes internal notes) is required
	// RetryBase must not be negative
}

func ExampleSMSText() {
	fmt.Println(relay.SMSText(`<p>Hi Ann,</p><p>Steps:</p><ul><li>Restart</li><li>See <a href="https://example.com/help">help</a></li></ul>`))
	// Output:
	// Hi Ann,
	//
	// Steps:
	//
	// - Restart
	// - See help (https://example.com/help)
}
