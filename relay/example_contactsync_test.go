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

// Mirroring opt-outs onto the Intercom contact: STOP sets the boolean
// attribute and the tag, START clears them.
func ExampleContactSync() {
	// The workspace has the attribute (Settings > Data > People).
	ic := intercomtest.NewServer(intercomtest.WithDataAttributes(
		intercomtest.DataAttribute{Name: "sms_opted_out", Type: intercomtest.AttributeBoolean}))
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
		ContactSync: relay.ContactSync{
			OptOutAttribute: "sms_opted_out",
			OptOutTag:       "SMS opted out",
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	ctx := context.Background()
	text := func(body string) {
		twiliotest.Post(ctx, nil, tw.AuthToken, srv.URL+"/twilio/messages", twiliotest.InboundForm("+14155550123", "+14155550100", body))
		for ran, _ := r.RunOnce(ctx); ran; ran, _ = r.RunOnce(ctx) {
		}
	}
	show := func() {
		c := ic.Contacts()[0]
		fmt.Println("sms_opted_out:", ic.ContactAttributes(c.ID)["sms_opted_out"], "tags:", len(ic.ContactTags(c.ID)))
	}

	text("STOP")
	show()
	text("START")
	show()
	// Output:
	// sms_opted_out: true tags: 1
	// sms_opted_out: false tags: 0
}
