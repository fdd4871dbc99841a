package relay_test

import (
	"context"
	"fmt"
	"io"
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

// The operator API, mounted under /admin/: a text that could not reach
// Intercom is dead-lettered, listed and replayed with the token.
func ExampleRelay_AdminHandler() {
	ic := intercomtest.NewServer()
	defer ic.Close()
	tw := twiliotest.NewServer()
	defer tw.Close()
	icClient, _ := intercom.NewClient(ic.Token, intercom.WithBaseURL(ic.URL), intercom.WithRetry(intercom.RetryPolicy{MaxAttempts: 1}))
	twClient, _ := twiliosms.NewClient(tw.AccountSID, tw.AuthToken, twiliosms.WithBaseURL(tw.URL))
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	const token = "an-operator-token-of-some-length"
	r, err := relay.New(relay.Config{
		Intercom: icClient, Twilio: twClient, Store: memstore.New(), PublicURL: srv.URL,
		TwilioAuthTokens: []string{tw.AuthToken}, WebhookSecrets: []string{ic.ClientSecret},
		NoteAuthor: "991267999", MaxAttempts: 1,
		AdminToken: token,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	mux.Handle("/admin/", http.StripPrefix("/admin", r.AdminHandler()))

	// Intercom refuses the contact search, so the text is dead-lettered.
	ic.Fail("POST", "/contacts/search", intercomtest.Fault{Status: 401})
	ctx := context.Background()
	twiliotest.Post(ctx, nil, tw.AuthToken, srv.URL+"/twilio/messages",
		twiliotest.InboundForm("+14155550123", "+14155550100", "Hello?"))
	r.RunOnce(ctx)

	call := func(method, path string) string {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.Status + " " + strings.Join(strings.Fields(string(b)), " ")
	}
	dl, _ := r.DeadLetters(ctx, 1)
	fmt.Println(strings.Contains(call("GET", "/admin/api/dead-letters"), `"kind": "twilio.inbound"`))

	// Once the cause is fixed, replay it.
	ic.ClearFaults()
	fmt.Println(call("POST", "/admin/api/dead-letters/"+dl[0].ID+"/replay"))
	r.RunOnce(ctx)
	fmt.Println(len(ic.Conversations()), "conversation")
	// Output:
	// true
	// 200 OK { "result": "replayed 1" }
	// 1 conversation
}
