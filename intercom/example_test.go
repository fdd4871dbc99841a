package intercom_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
)

func ExampleNewClient() {
	// A stand-in for api.intercom.io that answers one search.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.Method, r.URL.Path, r.Header.Get("Intercom-Version"), r.Header.Get("Authorization") != "")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"type":"list","data":[{"type":"contact","id":"6762f0dd1bb69f9f2193bb83","role":"lead","phone":"+15551234567"}]}`)
	}))
	defer srv.Close()

	client, err := intercom.NewClient("access-token",
		intercom.WithBaseURL(srv.URL), // intercom.EUBaseURL for an EU workspace
		intercom.WithLimiter(intercom.NewWindowLimiter(intercom.DefaultLimit, intercom.DefaultWindow)),
	)
	if err != nil {
		log.Fatal(err)
	}
	contacts, err := client.SearchContactsByPhone(context.Background(), "+15551234567")
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range contacts {
		fmt.Println(c.ID, c.Role, c.Phone)
	}
	// Output:
	// POST /contacts/search 2.16 true
	// 6762f0dd1bb69f9f2193bb83 lead +15551234567
}

func ExampleError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"type":"error.list","request_id":"b5e8c3a1","errors":[{"code":"not_found","message":"Resource Not Found"}]}`)
	}))
	defer srv.Close()
	client, err := intercom.NewClient("access-token", intercom.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}

	_, err = client.Conversation(context.Background(), "499")
	var apiErr *intercom.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.RequestID, apiErr.Errors[0].Code)
	}
	fmt.Println(errors.Is(err, intercom.ErrNotFound), intercom.IsRetryable(err))
	fmt.Println(err)
	// Output:
	// 404 b5e8c3a1 not_found
	// true false
	// intercom: GET /conversations/499: HTTP 404 Not Found: not_found: Resource Not Found [request_id b5e8c3a1]
}

func ExampleVerifySignature() {
	body := []byte(`{"type":"notification_event","topic":"ping","id":"notif_1"}`)
	header := intercom.Sign(body, "current-secret") // what Intercom sends in X-Hub-Signature

	// During a rotation, accept both the new and the old client secret.
	fmt.Println(intercom.VerifySignature(body, header, "current-secret", "previous-secret"))
	fmt.Println(intercom.VerifySignature(body, header, "someone-else"))
	fmt.Println(intercom.VerifySignature(body, "", "current-secret"))
	// Output:
	// <nil>
	// intercom: webhook signature invalid
	// intercom: webhook signature missing
}

func ExampleParseNotification() {
	body := []byte(`{"type":"notification_event","id":"notif_42","topic":"conversation.admin.replied",
	 "app_id":"a86dr8yl","created_at":1734537565,"delivery_attempts":1,"first_sent_at":1734537565,
	 "data":{"type":"notification_event_data","item":{"type":"conversation","id":"499","state":"open",
	  "conversation_parts":{"type":"conversation_part.list","total_count":2,"conversation_parts":[
	   {"id":"7","part_type":"comment","body":"See you at 5","created_at":1734537565,"author":{"type":"admin","id":991267696}},
	   {"id":"8","part_type":"note","body":"VIP","created_at":1734537566,"author":{"type":"admin","id":991267696}}]}}}}`)
	n, err := intercom.ParseNotification(body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n.ID, n.Topic, n.Conversation.ID)
	for _, p := range n.Conversation.Parts {
		// Only admin comments are meant for the customer.
		if p.PartType == "comment" && p.Author.Type == "admin" {
			fmt.Printf("to customer: %q (part %s)\n", p.Body, p.ID)
		}
	}
	// Output:
	// notif_42 conversation.admin.replied 499
	// to customer: "See you at 5" (part 7)
}

func ExampleContextWithAdmission() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"type":"conversation","id":"499","state":"open"}`)
	}))
	defer srv.Close()

	// One limiter for the whole process, shared with the client.
	budget := intercom.NewWindowLimiter(intercom.DefaultLimit, intercom.DefaultWindow)
	client, err := intercom.NewClient("access-token", intercom.WithBaseURL(srv.URL), intercom.WithLimiter(budget))
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	// A worker waits for its turn before it starts a job...
	if err := budget.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	// ...and tells the client, which then does not charge the call again.
	conv, err := client.Conversation(intercom.ContextWithAdmission(ctx, budget), "499")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(conv.ID, conv.State)
	// Output: 499 open
}

func ExampleClient_SearchConversationsByContact() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Println(r.Method, r.URL.Path, string(body))
		io.WriteString(w, `{"type":"conversation.list","total_count":2,"conversations":[
			{"type":"conversation","id":"515","created_at":1734537100,"state":"closed",
			 "source":{"type":"conversation","body":"<p>Hello</p>","author":{"type":"lead","id":"6762f0dd1bb69f9f2193bb83"}}},
			{"type":"conversation","id":"516","created_at":1734537600,"state":"open",
			 "source":{"type":"conversation","body":"<p>Is my order shipped?</p>","author":{"type":"lead","id":"6762f0dd1bb69f9f2193bb83"}}}]}`)
	}))
	defer srv.Close()
	client, err := intercom.NewClient("access-token", intercom.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}

	// CreateConversation failed ambiguously: look for what the attempt may
	// have created, from a little before it (Intercom's clock may differ).
	since := time.Unix(1734537000, 0)
	convs, err := client.SearchConversationsByContact(context.Background(), "6762f0dd1bb69f9f2193bb83", since)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range convs { // newest first
		fmt.Println(c.ID, c.State, c.CreatedAt.Unix(), c.Source.Body)
	}
	// Output:
	// POST /conversations/search {"query":{"operator":"AND","value":[{"field":"contact_ids","operator":"=","value":"6762f0dd1bb69f9f2193bb83"},{"field":"created_at","operator":">","value":"1734536999"}]},"pagination":{"per_page":150}}
	// 516 open 1734537600 <p>Is my order shipped?</p>
	// 515 closed 1734537100 <p>Hello</p>
}
