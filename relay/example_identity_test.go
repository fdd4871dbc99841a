package relay_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// The identity bridge: a number Intercom does not know is asked once for
// its email; the answer attaches the number to the user with that address.
// A customer whose first text gives their address is not asked; that
// address is linked by note, never merged on alone.
func ExampleIdentityBridge() {
	ic := intercomtest.NewServer()
	defer ic.Close()
	tw := twiliotest.NewServer()
	defer tw.Close()
	icClient, _ := intercom.NewClient(ic.Token, intercom.WithBaseURL(ic.URL))
	twClient, _ := twiliosms.NewClient(tw.AccountSID, tw.AuthToken, twiliosms.WithBaseURL(tw.URL))
	user, _ := ic.AddContact(intercomtest.Contact{Role: "user", Name: "Ann Lee", Email: "ann@example.com", CreatedAt: time.Now().Add(-time.Hour)})
	ic.AddContact(intercomtest.Contact{Role: "user", Name: "Bob Roe", Email: "bob@example.com", CreatedAt: time.Now().Add(-time.Hour)})

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
		Identity: &relay.IdentityBridge{
			Prompt:                  "Thanks! Which email address do you use with us?",
			SkipDuplicateValidation: true, // see its doc: the address is not verified
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	ctx := context.Background()
	textFrom := func(from, body string) {
		twiliotest.Post(ctx, nil, tw.AuthToken, srv.URL+"/twilio/messages",
			twiliotest.InboundForm(from, "+14155550100", body))
		for ran, _ := r.RunOnce(ctx); ran; ran, _ = r.RunOnce(ctx) {
		}
	}
	text := func(body string) { textFrom("+14155550123", body) }

	text("Hi, where is my order?")
	fmt.Println("asked:", tw.Messages()[0].Body)
	text("It's ann@example.com")
	conv := ic.Conversations()[0]
	fmt.Println("conversation belongs to the user:", conv.ContactIDs[0] == user.ID)
	fmt.Println(relay.SMSText(conv.Parts[len(conv.Parts)-1].Body)[:39])
	text("Thanks")
	fmt.Println("texts sent:", len(tw.Messages()))

	// Another number gives its address unasked: no prompt, and, as the
	// address was not asked for, a note links the lead to the user instead
	// of a merge.
	textFrom("+14155550124", "Hi, bob@example.com here - my parcel is late")
	fmt.Println("texts sent:", len(tw.Messages()))
	for _, c := range ic.Conversations() {
		if c.ContactIDs[0] != user.ID {
			note := relay.SMSText(c.Parts[len(c.Parts)-1].Body)
			fmt.Println("links the lead to Bob:", strings.Contains(note, "Bob Roe") && strings.Contains(note, "stays a lead"))
		}
	}
	// Output:
	// asked: Thanks! Which email address do you use with us?
	// conversation belongs to the user: true
	// This number now belongs to Ann Lee (ann
	// texts sent: 1
	// texts sent: 1
	// links the lead to Bob: true
}
