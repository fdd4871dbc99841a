package intercomtest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

// Create a contact with plain net/http, then create it again: the second
// attempt gets Intercom's 409 conflict naming the existing contact.
func Example() {
	s := intercomtest.NewServer()
	defer s.Close()

	create := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/contacts",
			strings.NewReader(`{"role":"lead","phone":"+15551234567"}`))
		req.Header.Set("Authorization", "Bearer "+s.Token)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Intercom-Version", "2.16")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get(intercom.RateLimitRemainingHeader) + " " + string(body)
	}

	status, _ := create()
	fmt.Println(status, len(s.Contacts()), "contact")
	status, info := create()
	fmt.Println(status, strings.Contains(info, `"code":"conflict"`))
	fmt.Println("remaining budget:", strings.Fields(info)[0])
	// Output:
	// 200 1 contact
	// 409 true
	// remaining budget: 81
}

// Play an agent replying in the inbox: the reply is stored on the
// conversation and a signed conversation.admin.replied notification is
// posted to the webhook receiver.
func ExampleServer_AdminReply() {
	s := intercomtest.NewServer(intercomtest.WithClientSecret("client-secret"))
	defer s.Close()
	contact, _ := s.AddContact(intercomtest.Contact{Phone: "+15551234567"})
	conv, _ := s.StartConversation(contact.ID, "Is my order shipped?")

	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		valid := r.Header.Get(intercom.SignatureHeader) == intercomtest.Sign(body, "client-secret")
		fmt.Println("signature valid:", valid)
		fmt.Println("plain text body:", strings.Contains(string(body), `"body":"Yes, it left today."`))
	}))
	defer hook.Close()

	_, status, err := s.AdminReply(context.Background(), hook.URL, conv.ID, "991267", "Yes, it left today.")
	fmt.Println(status, err)
	stored, _ := s.Conversation(conv.ID)
	fmt.Println(stored.Parts[0].Body)
	// Output:
	// signature valid: true
	// plain text body: true
	// 200 <nil>
	// <p>Yes, it left today.</p>
}

// Inject a transient failure: the next two replies get 503, then the server
// answers normally.
func ExampleServer_Fail() {
	s := intercomtest.NewServer()
	defer s.Close()
	err := s.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Status: 503, Times: 2})
	fmt.Println(err)
	// Output:
	// <nil>
}
