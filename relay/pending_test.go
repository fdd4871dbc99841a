package relay

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// An agent's reply on a conversation the relay has no record of, older than
// the young window, is kept when an unsure attempt to start a conversation
// for its contact was made when it was created: it ends sent or
// dead-lettered with a note, never dropped. Without such an attempt it is
// acknowledged and counted as not the relay's.
func TestHandlerKeepsOldReplyOnAPendingStart(t *testing.T) {
	const secret = "webhook-secret"
	ic, err := intercom.NewClient("token", intercom.WithBaseURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	tw, err := twiliosms.NewClient("AC0123456789abcdef0123456789abcdef", "token", twiliosms.WithBaseURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	st := memstore.New()
	r, err := New(Config{
		Intercom: ic, Twilio: tw, Store: st, PublicURL: "https://relay.example",
		TwilioAuthTokens: []string{"token"}, WebhookSecrets: []string{secret}, NoteAuthor: "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now().Add(-10 * time.Minute)
	post := func(convID, contactID string) {
		t.Helper()
		body := fmt.Appendf(nil, `{"type":"notification_event","id":"notif_%s","topic":"conversation.admin.replied","created_at":%d,`+
			`"data":{"item":{"type":"conversation","id":%q,"state":"open","created_at":%d,"updated_at":%d,`+
			`"contacts":{"type":"contact.list","contacts":[{"type":"contact","id":%q}]},`+
			`"conversation_parts":{"type":"conversation_part.list","total_count":1,"conversation_parts":[`+
			`{"type":"conversation_part","id":"p-%s","part_type":"comment","body":"Yes, we are here","created_at":%d,`+
			`"author":{"type":"admin","id":"7"}}]}}}}`,
			convID, time.Now().Unix(), convID, created.Unix(), time.Now().Unix(), contactID, convID, time.Now().Unix())
		req := httptest.NewRequest(http.MethodPost, "/intercom/webhooks", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(intercom.SignatureHeader, intercom.Sign(body, secret))
		w := httptest.NewRecorder()
		r.IntercomHandler().ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("webhook answered %d", w.Code)
		}
	}
	ctx := context.Background()
	if err := st.Mark(ctx, string(markUnsureStartAround("contact-1", created.Add(30*time.Second)))); err != nil {
		t.Fatal(err)
	}
	post("conv-pending", "contact-1")
	post("conv-chat", "contact-2")
	s, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Ready != 1 {
		t.Fatalf("%d jobs queued, want 1 (the reply on the pending start, not the chat's)", s.Ready)
	}
	job, err := st.Claim(ctx, time.Minute)
	if err != nil || job.Key != conversationKey("conv-pending") {
		t.Fatalf("queued job %+v (%v), want one under %s", job, err, conversationKey("conv-pending"))
	}
}
