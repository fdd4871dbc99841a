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

// Paging the assigned admin when a conversation is tagged urgent; their
// text back becomes an internal note authored by them.
func ExamplePaging() {
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
		DefaultRoute:     relay.Route{AdminID: "991267001"},
		Paging: relay.Paging{
			AgentPhones: map[string]string{"991267001": "+14155550177"},
			WorkspaceID: "abc123de",
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	mux.Handle("POST /intercom/webhooks", r.IntercomHandler())
	ctx := context.Background()
	drain := func() {
		for ran, _ := r.RunOnce(ctx); ran; ran, _ = r.RunOnce(ctx) {
		}
	}

	twiliotest.Post(ctx, nil, tw.AuthToken, srv.URL+"/twilio/messages",
		twiliotest.InboundForm("+14155550123", "+14155550100", "The app charged me twice"))
	drain()
	conv := ic.Conversations()[0]

	// A teammate tags the conversation urgent in the inbox.
	ic.TagConversation(ctx, srv.URL+"/intercom/webhooks", conv.ID, "991267002", "urgent")
	drain()
	page := tw.Messages()[0]
	fmt.Println("page to", page.To, "from", page.From)

	// The agent texts back.
	twiliotest.Post(ctx, nil, tw.AuthToken, srv.URL+"/twilio/messages",
		twiliotest.InboundForm("+14155550177", "+14155550100", "On it"))
	drain()
	conv, _ = ic.Conversation(conv.ID)
	for _, p := range conv.Parts {
		if p.PartType == "note" {
			fmt.Println("note by", p.Author.ID)
		}
	}
	fmt.Println("contacts:", len(ic.Contacts()), "texts:", len(tw.Messages()))
	// Output:
	// page to +14155550177 from +14155550100
	// note by 991267001
	// note by 991267999
	// contacts: 1 texts: 1
}
