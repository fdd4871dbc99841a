package intercom

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const contactJSON = `{"type":"contact","id":"6762f0dd1bb69f9f2193bb83","role":"lead","phone":"+15551234567","name":"Sam","external_id":null}`

func TestSearchContactsByPhone(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"list","data":[`+contactJSON+`,{"type":"contact","id":12345,"role":"user","phone":null,"name":null,"external_id":987}],"total_count":2,"pages":{"type":"pages","page":1,"per_page":50,"total_pages":1}}`)
	})
	c := newTestClient(t, srv)
	got, err := c.SearchContactsByPhone(context.Background(), " +15551234567 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []Contact{
		{ID: "6762f0dd1bb69f9f2193bb83", Role: "lead", Phone: "+15551234567", Name: "Sam"},
		{ID: "12345", Role: "user", ExternalID: "987"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	r := srv.requests()[0]
	if r.Method != "POST" || r.Path != "/contacts/search" {
		t.Errorf("%s %s", r.Method, r.Path)
	}
	assertJSON(t, r.Body, `{"query":{"operator":"OR","value":[
		{"field":"phone","operator":"=","value":"+15551234567"},
		{"field":"formatted_phone","operator":"=","value":"+15551234567"}]},
		"pagination":{"per_page":50}}`)
}

func TestSearchContactsEmpty(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"list","data":[],"total_count":0}`)
	})
	got, err := newTestClient(t, srv).SearchContactsByPhone(context.Background(), "+1555")
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestCreateContact(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeRaw(w, 200, contactJSON) })
	c := newTestClient(t, srv)
	got, err := c.CreateContact(context.Background(), ContactCreate{Phone: "+15551234567", Name: "Sam"})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "6762f0dd1bb69f9f2193bb83" || got.Role != "lead" {
		t.Errorf("got %+v", got)
	}
	r := srv.requests()[0]
	if r.Method != "POST" || r.Path != "/contacts" {
		t.Errorf("%s %s", r.Method, r.Path)
	}
	assertJSON(t, r.Body, `{"role":"lead","phone":"+15551234567","name":"Sam"}`)
}

func TestCreateContactConflictRecovery(t *testing.T) {
	tests := []struct {
		name    string
		message string
	}{
		{"active", "A contact matching those details already exists with id=6762f0dd1bb69f9f2193bb83"},
		{"archived", "An archived contact matching those details already exists with id=6762f0dd1bb69f9f2193bb83"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				switch {
				case r.Method == "POST" && r.URL.Path == "/contacts":
					writeRaw(w, 409, errorBody("conflict", tt.message))
				case r.Method == "GET" && r.URL.Path == "/contacts/6762f0dd1bb69f9f2193bb83":
					writeRaw(w, 200, contactJSON)
				default:
					writeRaw(w, 404, errorBody("not_found", "no"))
				}
			})
			lim := &countingLimiter{}
			c := newTestClient(t, srv, WithLimiter(lim))
			got, err := c.CreateContact(ContextWithAdmission(context.Background(), lim), ContactCreate{Role: "user", Phone: "+15551234567", ExternalID: "+15551234567"})
			if err != nil {
				t.Fatalf("conflict not recovered: %v", err)
			}
			if got.ID != "6762f0dd1bb69f9f2193bb83" || got.Phone != "+15551234567" {
				t.Errorf("got %+v", got)
			}
			if n := len(srv.requests()); n != 2 {
				t.Errorf("%d requests, want POST then GET", n)
			}
			if lim.n.Load() != 1 {
				t.Errorf("the follow-up GET waited %d times on the limiter, want 1", lim.n.Load())
			}
		})
	}
}

func TestCreateContactConflictWithoutID(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 409, errorBody("conflict", "Multiple existing users match this email address - must be more specific using user_id"))
	})
	_, err := newTestClient(t, srv).CreateContact(context.Background(), ContactCreate{Phone: "+1"})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("%d requests", n)
	}
}

func TestCreateContactConflictFetchFails(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method == "POST" {
			writeRaw(w, 409, errorBody("conflict", "A contact matching those details already exists with id=abc"))
			return
		}
		writeRaw(w, 404, errorBody("not_found", "User Not Found"))
	})
	_, err := newTestClient(t, srv).CreateContact(context.Background(), ContactCreate{Phone: "+1"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "contact exists (id abc)") {
		t.Fatalf("err = %v", err)
	}
}

func TestContactFollowsMerge(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/contacts/old":
			w.Header().Set("Link", `</contacts/6762f0dd1bb69f9f2193bb83>; rel="canonical"`)
			writeRaw(w, 410, errorBody("contact_merged", "This contact has been merged. See the 'Link' header for the canonical contact."))
		case "/contacts/6762f0dd1bb69f9f2193bb83":
			writeRaw(w, 200, contactJSON)
		default:
			writeRaw(w, 404, errorBody("not_found", "no"))
		}
	})
	got, err := newTestClient(t, srv).Contact(context.Background(), "old")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "6762f0dd1bb69f9f2193bb83" {
		t.Errorf("got %+v", got)
	}
	if n := len(srv.requests()); n != 2 {
		t.Errorf("%d requests", n)
	}
}

func TestContactGoneWithoutLink(t *testing.T) {
	var calls atomic.Int32
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		calls.Add(1)
		if r.URL.Path == "/contacts/loop" {
			w.Header().Set("Link", `</contacts/loop>; rel="canonical"`)
		}
		writeRaw(w, 410, errorBody("contact_merged", "merged"))
	})
	c := newTestClient(t, srv)
	for _, id := range []string{"nolink", "loop"} {
		calls.Store(0)
		_, err := c.Contact(context.Background(), id)
		if !errors.Is(err, ErrGone) {
			t.Errorf("%s: err = %v, want ErrGone", id, err)
		}
		if calls.Load() != 1 {
			t.Errorf("%s: %d requests, want 1", id, calls.Load())
		}
	}
}

func TestContactMergedTwiceStops(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		next := map[string]string{"/contacts/a": "b", "/contacts/b": "c", "/contacts/c": "d"}[r.URL.Path]
		w.Header().Set("Link", "</contacts/"+next+`>; rel="canonical"`)
		writeRaw(w, 410, errorBody("contact_merged", "merged"))
	})
	_, err := newTestClient(t, srv).Contact(context.Background(), "a")
	if !errors.Is(err, ErrGone) || !strings.Contains(err.Error(), "a was merged into b") {
		t.Fatalf("err = %v", err)
	}
	if n := len(srv.requests()); n != 2 {
		t.Errorf("%d requests, want 2 (follow once)", n)
	}
}

func TestCanonicalContact(t *testing.T) {
	tests := []struct {
		link string
		want string
	}{
		{`</contacts/abc>; rel="canonical"`, "abc"},
		{`<https://api.intercom.io/contacts/abc>; rel=canonical`, "abc"},
		{`</contacts/abc>; rel="next", </contacts/def>; rel="canonical"`, "def"},
		{`</contacts/abc>; rel="next"`, ""},
		{`</companies/abc>; rel="canonical"`, ""},
		{`/contacts/abc; rel="canonical"`, ""},
		{`</contacts/>; rel="canonical"`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.link != "" {
			h.Set("Link", tt.link)
		}
		got, ok := canonicalContact(h)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("canonicalContact(%q) = %q, %v; want %q", tt.link, got, ok, tt.want)
		}
	}
}

func TestCreateConversation(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"user_message","id":"403918330","created_at":1734537501,"body":"Hello there","message_type":"inapp","conversation_id":499}`)
	})
	got, err := newTestClient(t, srv).CreateConversation(context.Background(), ConversationCreate{
		FromType: "lead", FromID: "6762f11b1bb69f9f2193bba3", Body: "Hello there",
		AttachmentURLs: []string{"https://media.example.com/a.jpg"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &ConversationMessage{Type: "user_message", ID: "403918330", ConversationID: "499", Body: "Hello there", CreatedAt: time.Unix(1734537501, 0).UTC()}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	r := srv.requests()[0]
	if r.Method != "POST" || r.Path != "/conversations" {
		t.Errorf("%s %s", r.Method, r.Path)
	}
	assertJSON(t, r.Body, `{"from":{"type":"lead","id":"6762f11b1bb69f9f2193bba3"},"body":"Hello there","attachment_urls":["https://media.example.com/a.jpg"]}`)
}

func TestCreateConversationWithoutConversationID(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"user_message","id":"1","created_at":1,"body":"x","message_type":"inapp"}`)
	})
	_, err := newTestClient(t, srv).CreateConversation(context.Background(), ConversationCreate{FromID: "u", Body: "x"})
	if err == nil || !strings.Contains(err.Error(), "no conversation_id") {
		t.Fatalf("err = %v", err)
	}
	assertJSON(t, srv.requests()[0].Body, `{"from":{"type":"contact","id":"u"},"body":"x"}`)
}

// conversationJSON is a retrieveConversation answer in the 2.16 shape,
// with ids as numbers where Intercom sends numbers.
const conversationJSON = `{
 "type":"conversation","id":"499","created_at":1734537501,"updated_at":1734537600,
 "source":{"type":"conversation","id":403918330,"delivered_as":"customer_initiated","subject":"","body":"<p>Hello there</p>",
   "author":{"type":"lead","id":"6762f11b1bb69f9f2193bba3","name":null,"email":""},"attachments":[],"url":null,"redacted":false},
 "contacts":{"type":"contact.list","contacts":[{"type":"contact","id":"6762f11b1bb69f9f2193bba3","external_id":null}]},
 "admin_assignee_id":0,"team_assignee_id":5017691,"open":true,"state":"open","read":false,
 "conversation_parts":{"type":"conversation_part.list","total_count":2,"conversation_parts":[
   {"type":"conversation_part","id":"132","part_type":"comment","body":"<p>Hi! How can we help?</p>","created_at":1734537550,
    "author":{"id":991267696,"type":"admin","name":"Ciaran Lee","email":"admin@example.com"},
    "attachments":[{"type":"upload","name":"a.png","url":"https://files.example.com/a.png","content_type":"image/png","filesize":10,"width":1,"height":1}],
    "app_package_code":null},
   {"type":"conversation_part","id":133,"part_type":"note","body":"<p>internal</p>","created_at":"1734537560",
    "author":{"id":"991267696","type":"admin","name":"Ciaran Lee","email":"admin@example.com"},"attachments":[],"app_package_code":"smsrelay"}
 ]}}`

func wantConversation() *Conversation {
	admin := Author{Type: "admin", ID: "991267696", Name: "Ciaran Lee", Email: "admin@example.com"}
	return &Conversation{
		ID: "499", State: "open", Open: true,
		Source: Source{Type: "conversation", ID: "403918330", DeliveredAs: "customer_initiated", Body: "<p>Hello there</p>",
			Author: Author{Type: "lead", ID: "6762f11b1bb69f9f2193bba3"}},
		Contacts: []ContactRef{{Type: "contact", ID: "6762f11b1bb69f9f2193bba3"}},
		Parts: []Part{
			{ID: "132", PartType: "comment", Body: "<p>Hi! How can we help?</p>", CreatedAt: time.Unix(1734537550, 0).UTC(), Author: admin,
				Attachments: []Attachment{{Type: "upload", Name: "a.png", URL: "https://files.example.com/a.png", ContentType: "image/png"}}},
			{ID: "133", PartType: "note", Body: "<p>internal</p>", CreatedAt: time.Unix(1734537560, 0).UTC(), Author: admin, AppPackageCode: "smsrelay"},
		},
		AdminAssigneeID: "", TeamAssigneeID: "5017691",
		CreatedAt: time.Unix(1734537501, 0).UTC(), UpdatedAt: time.Unix(1734537600, 0).UTC(),
	}
}

func TestConversationCalls(t *testing.T) {
	tests := []struct {
		name   string
		call   func(c *Client) (*Conversation, error)
		method string
		path   string
		body   string // "" for none
	}{
		{"get", func(c *Client) (*Conversation, error) { return c.Conversation(context.Background(), "499") },
			"GET", "/conversations/499", ""},
		{"reply as contact", func(c *Client) (*Conversation, error) {
			return c.ReplyAsContact(context.Background(), "499", ContactReply{IntercomUserID: "6762f1571bb69f9f2193bbbb", Body: "Thanks again :)", AttachmentURLs: []string{"https://m.example.com/mms.jpg"}})
		}, "POST", "/conversations/499/reply",
			`{"message_type":"comment","type":"user","intercom_user_id":"6762f1571bb69f9f2193bbbb","body":"Thanks again :)","attachment_urls":["https://m.example.com/mms.jpg"]}`},
		{"reply without attachments", func(c *Client) (*Conversation, error) {
			return c.ReplyAsContact(context.Background(), "last", ContactReply{IntercomUserID: "u1", Body: "hi"})
		}, "POST", "/conversations/last/reply",
			`{"message_type":"comment","type":"user","intercom_user_id":"u1","body":"hi"}`},
		{"note", func(c *Client) (*Conversation, error) {
			return c.AddNote(context.Background(), "499", "991267696", "<p>SMS failed</p>")
		}, "POST", "/conversations/499/reply",
			`{"message_type":"note","type":"admin","admin_id":"991267696","body":"<p>SMS failed</p>"}`},
		{"assign team", func(c *Client) (*Conversation, error) {
			return c.Assign(context.Background(), "499", Assignment{AdminID: "991267696", AssigneeID: "5017691", AssigneeType: "team"})
		}, "POST", "/conversations/499/parts",
			`{"message_type":"assignment","type":"team","admin_id":"991267696","assignee_id":"5017691"}`},
		{"assign admin", func(c *Client) (*Conversation, error) {
			return c.Assign(context.Background(), "499", Assignment{AdminID: "1", AssigneeID: "2", AssigneeType: "admin"})
		}, "POST", "/conversations/499/parts",
			`{"message_type":"assignment","type":"admin","admin_id":"1","assignee_id":"2"}`},
		{"open", func(c *Client) (*Conversation, error) { return c.Open(context.Background(), "499", "5017690") },
			"POST", "/conversations/499/parts", `{"message_type":"open","admin_id":"5017690"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeRaw(w, 200, conversationJSON) })
			got, err := tt.call(newTestClient(t, srv))
			if err != nil {
				t.Fatal(err)
			}
			if want := wantConversation(); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			r := srv.requests()[0]
			if r.Method != tt.method || r.Path != tt.path {
				t.Errorf("request %s %s, want %s %s", r.Method, r.Path, tt.method, tt.path)
			}
			if tt.body == "" {
				if len(r.Body) != 0 {
					t.Errorf("unexpected body %s", r.Body)
				}
			} else {
				assertJSON(t, r.Body, tt.body)
			}
		})
	}
}

func TestTagConversation(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"tag","id":"123","name":"sms"}`)
	})
	if err := newTestClient(t, srv).TagConversation(context.Background(), "499", "123", "991267696"); err != nil {
		t.Fatal(err)
	}
	r := srv.requests()[0]
	if r.Method != "POST" || r.Path != "/conversations/499/tags" {
		t.Errorf("%s %s", r.Method, r.Path)
	}
	assertJSON(t, r.Body, `{"id":"123","admin_id":"991267696"}`)
}

func TestConversationNotFound(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 404, errorBody("not_found", "Resource Not Found"))
	})
	_, err := newTestClient(t, srv).Conversation(context.Background(), "gone")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
}

func TestMalformedAnswer(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"conversation","id":{"oops":1}}`)
	})
	_, err := newTestClient(t, srv).Conversation(context.Background(), "1")
	if err == nil || !strings.Contains(err.Error(), "decoding answer") || IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("a malformed answer was retried: %d requests", n)
	}
}
