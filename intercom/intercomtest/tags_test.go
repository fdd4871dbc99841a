package intercomtest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

func TestTagConversationPostsTheTagTopic(t *testing.T) {
	s := intercomtest.NewServer()
	defer s.Close()
	got := make(chan *intercom.Notification, 2)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := intercom.VerifySignature(body, r.Header.Get(intercom.SignatureHeader), s.ClientSecret); err != nil {
			t.Errorf("signature: %v", err)
		}
		n, err := intercom.ParseNotification(body)
		if err != nil {
			t.Errorf("parse: %v", err)
		}
		got <- n
	}))
	defer rcv.Close()
	ct, err := s.AddContact(intercomtest.Contact{Role: "lead", Phone: "+14155550123"})
	if err != nil {
		t.Fatal(err)
	}
	conv, err := s.StartConversation(ct.ID, "help")
	if err != nil {
		t.Fatal(err)
	}
	id, status, err := s.TagConversation(context.Background(), rcv.URL, conv.ID, "991267001", "urgent")
	if err != nil || status != http.StatusOK {
		t.Fatalf("TagConversation: %d, %v", status, err)
	}
	n := <-got
	if n.ID != id || n.Topic != intercom.TopicPartTagCreated || n.Conversation == nil || n.Conversation.ID != conv.ID {
		t.Fatalf("notification %+v", n)
	}
	if len(n.Conversation.Tags) != 1 || n.Conversation.Tags[0].Name != "urgent" || n.Conversation.Tags[0].AppliedAt.IsZero() {
		t.Fatalf("tags %+v", n.Conversation.Tags)
	}
	first := n.Conversation.Tags[0].AppliedAt
	time.Sleep(1100 * time.Millisecond) // applied_at has whole seconds
	if _, _, err := s.TagConversation(context.Background(), rcv.URL, conv.ID, "991267001", "URGENT"); err != nil {
		t.Fatal(err)
	}
	n = <-got
	if len(n.Conversation.Tags) != 1 || !n.Conversation.Tags[0].AppliedAt.Equal(first) {
		t.Fatalf("tagging again: tags %+v, want one applied at %v", n.Conversation.Tags, first)
	}
	c, _ := s.Conversation(conv.ID)
	if len(c.Tags) != 1 || c.Tags[0].AppliedBy != "991267001" {
		t.Fatalf("stored tags %+v", c.Tags)
	}
}
