package intercom

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/internal/specfiles"
)

const (
	testSecret    = "client-secret-current"
	testOldSecret = "client-secret-previous"
)

func TestSignKnownVector(t *testing.T) {
	// HMAC-SHA1 test case 2 of RFC 2202: key "Jefe".
	got := Sign([]byte("what do ya want for nothing?"), "Jefe")
	if want := "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"type":"notification_event","topic":"ping","id":"notif_1"}`)
	good := Sign(body, testSecret)
	old := Sign(body, testOldSecret)
	tests := []struct {
		name    string
		body    []byte
		header  string
		secrets []string
		want    error
	}{
		{"valid", body, good, []string{testSecret}, nil},
		{"valid upper-case hex", body, "sha1=" + strings.ToUpper(good[5:]), []string{testSecret}, nil},
		{"valid with spaces", body, "  " + good + " ", []string{testSecret}, nil},
		{"missing", body, "", []string{testSecret}, ErrMissingSignature},
		{"blank", body, "   ", []string{testSecret}, ErrMissingSignature},
		{"no prefix", body, good[5:], []string{testSecret}, ErrMalformedSignature},
		{"sha256 prefix", body, "sha256=" + good[5:], []string{testSecret}, ErrMalformedSignature},
		{"short", body, good[:len(good)-2], []string{testSecret}, ErrMalformedSignature},
		{"long", body, good + "00", []string{testSecret}, ErrMalformedSignature},
		{"not hex", body, "sha1=" + strings.Repeat("zz", 20), []string{testSecret}, ErrMalformedSignature},
		{"wrong secret", body, good, []string{"other"}, ErrInvalidSignature},
		{"rotated: old secret still accepted", body, old, []string{testSecret, testOldSecret}, nil},
		{"rotated: new secret accepted", body, good, []string{testSecret, testOldSecret}, nil},
		{"rotated away", body, old, []string{testSecret}, ErrInvalidSignature},
		{"modified body", []byte(strings.Replace(string(body), "ping", "pong", 1)), good, []string{testSecret}, ErrInvalidSignature},
		{"empty body signed", nil, Sign(nil, testSecret), []string{testSecret}, nil},
		{"no secrets", body, good, nil, ErrNoSecret},
		{"empty secret", body, Sign(body, ""), []string{""}, ErrNoSecret},
		{"one empty secret among good", body, good, []string{testSecret, ""}, ErrNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.body, tt.header, tt.secrets...)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("VerifySignature: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			// Never echo a MAC or a secret.
			for _, leak := range []string{good[5:], old[5:], testSecret, testOldSecret} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q leaks %q", err, leak)
				}
			}
		})
	}
}

// envelope wraps an item in a notification_event.
func envelope(t testing.TB, topic string, item any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"type": "notification_event", "id": "notif_test", "topic": topic, "app_id": "a86dr8yl",
		"created_at": 1734537565, "delivery_attempts": 2, "first_sent_at": 1734537566,
		"data": map[string]any{"type": "notification_event_data", "item": item},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseNotificationConversation(t *testing.T) {
	var item any
	if err := json.Unmarshal([]byte(conversationJSON), &item); err != nil {
		t.Fatal(err)
	}
	n, err := ParseNotification(envelope(t, TopicAdminReplied, item))
	if err != nil {
		t.Fatal(err)
	}
	if n.ID != "notif_test" || n.Topic != TopicAdminReplied || n.AppID != "a86dr8yl" || n.DeliveryAttempts != 2 || n.ItemType != "conversation" {
		t.Errorf("envelope = %+v", n)
	}
	if !n.CreatedAt.Equal(time.Unix(1734537565, 0)) || !n.FirstSentAt.Equal(time.Unix(1734537566, 0)) {
		t.Errorf("times %v %v", n.CreatedAt, n.FirstSentAt)
	}
	if !reflect.DeepEqual(n.Conversation, wantConversation()) {
		t.Errorf("conversation\n got %+v\nwant %+v", n.Conversation, wantConversation())
	}
	if len(n.Item) == 0 || !json.Valid(n.Item) {
		t.Error("raw item missing")
	}
}

func TestParseNotificationInline(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    *Notification // compared without Item
		wantErr string
	}{
		{"ping", `{"type":"notification_event","topic":"ping","id":"notif_p","app_id":"x","created_at":1,"delivery_attempts":1,"first_sent_at":1,"data":{"type":"notification_event_data","item":{"type":"ping","message":"hi"}}}`,
			&Notification{ID: "notif_p", Topic: TopicPing, AppID: "x", CreatedAt: time.Unix(1, 0).UTC(), FirstSentAt: time.Unix(1, 0).UTC(), DeliveryAttempts: 1, ItemType: "ping"}, ""},
		{"bot reply on admin topic, plain text body, numeric ids", `{"type":"notification_event","topic":"conversation.admin.replied","id":"notif_b","app_id":"x","created_at":1700000000,"delivery_attempts":1,"first_sent_at":1700000000,"delivery_status":"pending","delivered_at":0,
			"data":{"type":"notification_event_data","item":{"type":"conversation","id":123,"state":"open","open":true,"admin_assignee_id":null,"team_assignee_id":"0",
			"conversation_parts":{"type":"conversation_part.list","total_count":1,"conversation_parts":[{"type":"conversation_part","id":456,"part_type":"comment","body":"Hello from Fin","created_at":1700000000,"author":{"type":"bot","id":789,"name":"Fin Bot","email":"operator+x@intercom.io","from_ai_agent":false},"attachments":[]}]}}}}`,
			&Notification{ID: "notif_b", Topic: TopicAdminReplied, AppID: "x", CreatedAt: time.Unix(1700000000, 0).UTC(), FirstSentAt: time.Unix(1700000000, 0).UTC(), DeliveryAttempts: 1, ItemType: "conversation",
				Conversation: &Conversation{ID: "123", State: "open", Open: true, Parts: []Part{{ID: "456", PartType: "comment", Body: "Hello from Fin", CreatedAt: time.Unix(1700000000, 0).UTC(),
					Author: Author{Type: "bot", ID: "789", Name: "Fin Bot", Email: "operator+x@intercom.io"}}}}}, ""},
		{"no data", `{"type":"notification_event","topic":"conversation.deleted","id":"n"}`,
			&Notification{ID: "n", Topic: TopicConversationDeleted}, ""},
		{"no type field", `{"topic":"ping"}`, &Notification{Topic: TopicPing}, ""},
		{"open derived from state", `{"topic":"conversation.admin.closed","data":{"item":{"type":"conversation","id":"1","state":"closed"}}}`,
			&Notification{Topic: TopicAdminClosed, ItemType: "conversation", Conversation: &Conversation{ID: "1", State: "closed"}}, ""},
		{"empty", ``, nil, "empty body"},
		{"array", `[1]`, nil, "not a JSON object"},
		{"truncated", `{"topic":"ping"`, nil, "ParseNotification"},
		{"wrong type", `{"type":"conversation","topic":"ping"}`, nil, "notification_event"},
		{"no topic", `{"type":"notification_event","id":"n"}`, nil, "no topic"},
		{"bad attempts", `{"topic":"ping","delivery_attempts":"two"}`, nil, "ParseNotification"},
		{"negative attempts", `{"topic":"ping","delivery_attempts":-1}`, nil, "negative"},
		{"bad timestamp", `{"topic":"ping","created_at":true}`, nil, "timestamp"},
		{"conversation without id", `{"topic":"conversation.user.created","data":{"item":{"type":"conversation"}}}`, nil, "without id"},
		{"conversation bad parts", `{"topic":"conversation.user.created","data":{"item":{"type":"conversation","id":"1","conversation_parts":{"conversation_parts":"x"}}}}`, nil, "conversation"},
		{"item not object", `{"topic":"ping","data":{"item":"x"}}`, nil, "data.item"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ParseNotification([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "intercom: ") {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n.Item = nil
			if !reflect.DeepEqual(n, tt.want) {
				t.Errorf("got  %+v\nwant %+v", n, tt.want)
				if n.Conversation != nil && tt.want.Conversation != nil {
					t.Errorf("conversation got %+v\nwant %+v", *n.Conversation, *tt.want.Conversation)
				}
			}
		})
	}
}

// exampleFile is the shape of shared/specs/intercom/webhook-examples.json.
type exampleFile struct {
	Examples []struct {
		Name    string          `json:"name"`
		Payload json.RawMessage `json:"payload"`
	} `json:"examples"`
}

func loadExamples(t testing.TB) exampleFile {
	t.Helper()
	path := specfiles.Path(t, "intercom", "webhook-examples.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("webhook examples not available at %s: %v", path, err)
	}
	var f exampleFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(f.Examples) == 0 {
		t.Fatalf("%s holds no examples", path)
	}
	return f
}

// TestParseNotificationOfficialExamples parses Intercom's published
// envelopes as they are, and its published conversations wrapped in an
// envelope, and checks them against the source documents.
func TestParseNotificationOfficialExamples(t *testing.T) {
	f := loadExamples(t)
	var envelopes, conversations int
	for _, ex := range f.Examples {
		var head struct {
			Type              string `json:"type"`
			Topic             string `json:"topic"`
			ID                any    `json:"id"`
			ConversationParts struct {
				Parts []json.RawMessage `json:"conversation_parts"`
			} `json:"conversation_parts"`
		}
		if err := json.Unmarshal(ex.Payload, &head); err != nil {
			t.Fatalf("%s: %v", ex.Name, err)
		}
		switch head.Type {
		case "notification_event":
			envelopes++
			n, err := ParseNotification(ex.Payload)
			if err != nil {
				t.Errorf("%s: %v", ex.Name, err)
				continue
			}
			if n.Topic != head.Topic || n.ID != head.ID || n.AppID != "a86dr8yl" || n.ItemType == "" || n.Conversation != nil {
				t.Errorf("%s: parsed %+v", ex.Name, n)
			}
		case "conversation":
			conversations++
			var item any
			if err := json.Unmarshal(ex.Payload, &item); err != nil {
				t.Fatal(err)
			}
			n, err := ParseNotification(envelope(t, TopicAdminNoted, item))
			if err != nil {
				t.Errorf("%s: %v", ex.Name, err)
				continue
			}
			c := n.Conversation
			if c == nil || c.ID == "" || c.State == "" || c.Source.Author.Type == "" || len(c.Contacts) == 0 {
				t.Errorf("%s: conversation %+v", ex.Name, c)
				continue
			}
			if len(c.Parts) != len(head.ConversationParts.Parts) {
				t.Errorf("%s: %d parts, want %d", ex.Name, len(c.Parts), len(head.ConversationParts.Parts))
			}
			for i, p := range c.Parts {
				if p.ID == "" || p.PartType == "" || p.Author.Type == "" || p.CreatedAt.IsZero() {
					t.Errorf("%s: part %d incomplete: %+v", ex.Name, i, p)
				}
			}
		}
	}
	if envelopes == 0 || conversations == 0 {
		t.Errorf("examples held %d envelopes and %d conversations; expected both kinds", envelopes, conversations)
	}
}

func TestParseNotificationNoteExample(t *testing.T) {
	f := loadExamples(t)
	for _, ex := range f.Examples {
		if !strings.Contains(ex.Name, "admin note") {
			continue
		}
		var item any
		_ = json.Unmarshal(ex.Payload, &item)
		n, err := ParseNotification(envelope(t, TopicAdminNoted, item))
		if err != nil {
			t.Fatal(err)
		}
		c := n.Conversation
		if c.ID != "525" || c.State != "closed" || c.Open || c.AdminAssigneeID != "991267715" || c.TeamAssigneeID != "5017691" {
			t.Errorf("conversation %+v", c)
		}
		if len(c.Parts) != 1 || c.Parts[0].PartType != "note" || c.Parts[0].ID != "133" || c.Parts[0].Author != (Author{Type: "admin", ID: "991267696", Name: "Ciaran213 Lee", Email: "admin213@email.com"}) {
			t.Errorf("parts %+v", c.Parts)
		}
		return
	}
	t.Skip("no admin-note example in the examples file")
}

func FuzzVerifySignature(f *testing.F) {
	body := []byte(`{"topic":"ping"}`)
	f.Add(body, Sign(body, testSecret), testSecret)
	f.Add(body, Sign(body, testSecret), "other")
	f.Add([]byte{}, "", "s")
	f.Add([]byte("x"), "sha1=zz", "s")
	f.Add([]byte("x"), "SHA1="+strings.Repeat("0", 40), "s")
	f.Fuzz(func(t *testing.T, body []byte, header, secret string) {
		err := VerifySignature(body, header, secret)
		if err == nil {
			// Only the right MAC passes.
			if secret == "" || !strings.EqualFold(strings.TrimSpace(header), Sign(body, secret)) {
				t.Fatalf("accepted header %q for secret %q", header, secret)
			}
			return
		}
		if !errors.Is(err, ErrMissingSignature) && !errors.Is(err, ErrMalformedSignature) &&
			!errors.Is(err, ErrInvalidSignature) && !errors.Is(err, ErrNoSecret) {
			t.Fatalf("unexpected error %v", err)
		}
		if secret != "" && VerifySignature(body, Sign(body, secret), secret) != nil {
			t.Fatal("own signature rejected")
		}
	})
}

func FuzzParseNotification(f *testing.F) {
	var item any
	_ = json.Unmarshal([]byte(conversationJSON), &item)
	f.Add(envelope(f, TopicAdminReplied, item))
	f.Add([]byte(`{"type":"notification_event","topic":"ping","id":"n","data":{"item":{"type":"ping"}}}`))
	f.Add([]byte(`{"topic":"x","data":{"item":{"type":"conversation","id":1,"conversation_parts":{"conversation_parts":[{"id":2,"created_at":"3"}]}}}}`))
	f.Add([]byte(`{"topic":"x","created_at":1e400}`))
	f.Add([]byte(`nul`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseNotification(body)
		if err != nil {
			if n != nil {
				t.Fatal("notification and error both returned")
			}
			return
		}
		if n.Topic == "" {
			t.Fatal("accepted a notification without topic")
		}
		if n.ItemType == "conversation" && (n.Conversation == nil || n.Conversation.ID == "") {
			t.Fatal("conversation item without a decoded conversation")
		}
		if n.ItemType != "conversation" && n.Conversation != nil {
			t.Fatal("conversation decoded from another item type")
		}
	})
}

// The fields a receiver orders state changes by come through as Intercom
// sends them: in the official examples, times are UNIX seconds as JSON
// numbers (the notification's created_at, the conversation's created_at
// and updated_at), and state is "open", "closed" or "snoozed".
func TestParseNotificationOrderingFieldsFromExamples(t *testing.T) {
	f := loadExamples(t)
	unix := func(v *int64) time.Time {
		if v == nil {
			return time.Time{}
		}
		return time.Unix(*v, 0).UTC()
	}
	var checked int
	for _, ex := range f.Examples {
		var head struct {
			Type      string `json:"type"`
			CreatedAt *int64 `json:"created_at"`
			UpdatedAt *int64 `json:"updated_at"`
			State     string `json:"state"`
			Open      *bool  `json:"open"`
		}
		if err := json.Unmarshal(ex.Payload, &head); err != nil {
			t.Fatalf("%s: %v", ex.Name, err)
		}
		switch head.Type {
		case "notification_event":
			n, err := ParseNotification(ex.Payload)
			if err != nil {
				t.Fatalf("%s: %v", ex.Name, err)
			}
			if !n.CreatedAt.Equal(unix(head.CreatedAt)) {
				t.Errorf("%s: CreatedAt %v, want %v", ex.Name, n.CreatedAt, unix(head.CreatedAt))
			}
			checked++
		case "conversation":
			var item any
			_ = json.Unmarshal(ex.Payload, &item)
			n, err := ParseNotification(envelope(t, TopicAdminClosed, item))
			if err != nil {
				t.Fatalf("%s: %v", ex.Name, err)
			}
			c := n.Conversation
			if head.UpdatedAt == nil || head.CreatedAt == nil {
				t.Fatalf("%s: the example has no created_at or updated_at", ex.Name)
			}
			if !c.UpdatedAt.Equal(unix(head.UpdatedAt)) || !c.CreatedAt.Equal(unix(head.CreatedAt)) {
				t.Errorf("%s: times %v %v, want %v %v", ex.Name, c.CreatedAt, c.UpdatedAt, unix(head.CreatedAt), unix(head.UpdatedAt))
			}
			if c.State != head.State || (head.Open != nil && c.Open != *head.Open) || (head.State == "closed") == c.Open {
				t.Errorf("%s: state %q open %v, want %q", ex.Name, c.State, c.Open, head.State)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Error("no example checked")
	}
	// Intercom has also sent times as numeric strings; both read the same.
	n, err := ParseNotification([]byte(`{"topic":"conversation.admin.opened","created_at":"1734537600",
		"data":{"item":{"type":"conversation","id":"7","state":"snoozed","open":true,"created_at":1734537500,"updated_at":"1734537599"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !n.CreatedAt.Equal(time.Unix(1734537600, 0)) || !n.Conversation.UpdatedAt.Equal(time.Unix(1734537599, 0)) ||
		n.Conversation.State != "snoozed" || !n.Conversation.Open {
		t.Errorf("got %+v %+v", n, n.Conversation)
	}
}
