package intercom

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// searchItem renders a conversation_list item as Intercom does, with
// numeric or string ids and timestamps as given.
func searchItem(id, createdAt, body, contactID string) string {
	return `{"type":"conversation","id":` + id + `,"created_at":` + createdAt + `,"updated_at":` + createdAt + `,
		"waiting_since":null,"snoozed_until":null,"open":true,"state":"open","read":false,"priority":"none",
		"admin_assignee_id":0,"team_assignee_id":null,
		"source":{"type":"conversation","id":"403918346","delivered_as":"customer_initiated","subject":"",
			"body":` + body + `,"author":{"type":"lead","id":"` + contactID + `","name":null,"email":""},"attachments":[],"url":null,"redacted":false},
		"contacts":{"type":"contact.list","contacts":[{"type":"contact","id":"` + contactID + `","external_id":null}]},
		"tags":{"type":"tag.list","tags":[]},"custom_attributes":{},"ai_agent_participated":false}`
}

func TestSearchConversationsByContact(t *testing.T) {
	const contact = "6762f0dd1bb69f9f2193bb83"
	since := time.Unix(1734537500, 700_000_000) // mid-second: compared in whole seconds
	items := []string{
		searchItem(`"515"`, `1734537500`, `"<p>same second as since</p>"`, contact),
		searchItem(`516`, `"1734537600"`, `"<p>newest</p>"`, contact),
		searchItem(`"99"`, `1734537550`, `"<p>tie, smaller id</p>"`, contact),
		searchItem(`100`, `1734537550`, `"<p>tie, larger id</p>"`, contact),
		// Let through by a ">=" reading of the widened bound: dropped.
		searchItem(`"514"`, `1734537499`, `"<p>too old</p>"`, contact),
	}
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"conversation.list","conversations":[`+strings.Join(items, ",")+`],
			"total_count":5,"pages":{"type":"pages","page":1,"per_page":150,"total_pages":1}}`)
	})
	got, err := newTestClient(t, srv).SearchConversationsByContact(context.Background(), contact, since)
	if err != nil {
		t.Fatal(err)
	}
	var ids, bodies []string
	for _, c := range got {
		ids = append(ids, c.ID)
		bodies = append(bodies, c.Source.Body)
	}
	if want := []string{"516", "100", "99", "515"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids = %v, want %v (bodies %q)", ids, want, bodies)
	}
	want := Conversation{
		ID: "516", State: "open", Open: true,
		Source: Source{Type: "conversation", ID: "403918346", DeliveredAs: "customer_initiated", Body: "<p>newest</p>",
			Author: Author{Type: "lead", ID: contact}},
		Contacts:  []ContactRef{{Type: "contact", ID: contact}},
		CreatedAt: time.Unix(1734537600, 0).UTC(), UpdatedAt: time.Unix(1734537600, 0).UTC(),
	}
	if len(got) > 0 && !reflect.DeepEqual(got[0], want) {
		t.Errorf("got  %+v\nwant %+v", got[0], want)
	}

	reqs := srv.requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/conversations/search" {
		t.Fatalf("requests = %+v", reqs)
	}
	assertJSON(t, reqs[0].Body, `{"query":{"operator":"AND","value":[
		{"field":"contact_ids","operator":"=","value":"6762f0dd1bb69f9f2193bb83"},
		{"field":"created_at","operator":">","value":"1734537499"}]},
		"pagination":{"per_page":150}}`)
	if !strings.Contains(string(reqs[0].Body), `"operator":">"`) {
		t.Errorf("the body escapes >: %s", reqs[0].Body)
	}
}

func TestSearchConversationsByContactEmpty(t *testing.T) {
	for _, body := range []string{
		`{"type":"conversation.list","conversations":[],"total_count":0,"pages":{"type":"pages","page":1,"per_page":150,"total_pages":0}}`,
		`{"type":"conversation.list","conversations":[]}`,
		`{}`,
	} {
		srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeRaw(w, 200, body) })
		got, err := newTestClient(t, srv).SearchConversationsByContact(context.Background(), "c1", time.Unix(1e9, 0))
		if err != nil || len(got) != 0 {
			t.Errorf("%s: got %v, %v", body, got, err)
		}
	}
}

// A page that is not the whole answer is an error: without a sort order
// the conversations left out could be the newest.
func TestSearchConversationsByContactMoreThanOnePage(t *testing.T) {
	one := searchItem(`"1"`, `1734537600`, `"<p>x</p>"`, "c1")
	for name, body := range map[string]string{
		"total_count": `{"type":"conversation.list","conversations":[` + one + `],"total_count":151}`,
		"next": `{"type":"conversation.list","conversations":[` + one + `],
			"pages":{"type":"pages","page":1,"per_page":150,"total_pages":2,"next":{"per_page":150,"starting_after":"WzE3MzQ1Mzc2MDAwMDAsMV0="}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeRaw(w, 200, body) })
			got, err := newTestClient(t, srv).SearchConversationsByContact(context.Background(), "c1", time.Unix(1e9, 0))
			if err == nil || !strings.Contains(err.Error(), "more than one page") || got != nil {
				t.Errorf("got %v, %v; want a more-than-one-page error", got, err)
			}
		})
	}
}

func TestSearchConversationsByContactAnswerWithoutID(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"conversation.list","conversations":[{"type":"conversation","created_at":1734537600}],"total_count":1}`)
	})
	_, err := newTestClient(t, srv).SearchConversationsByContact(context.Background(), "c1", time.Unix(1e9, 0))
	if err == nil || !strings.Contains(err.Error(), "no id") {
		t.Fatalf("err = %v", err)
	}
}

// The search is a read: unlike CreateConversation it is retried after
// failures that leave open whether Intercom acted, and the retry sends the
// same body.
func TestSearchConversationsByContactRetries(t *testing.T) {
	for _, status := range []int{500, 502, 504, 503, 429} {
		srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				writeRaw(w, status, errorBody("server_error", "oops"))
				return
			}
			writeRaw(w, 200, `{"type":"conversation.list","conversations":[`+searchItem(`"7"`, `1734537600`, `"<p>x</p>"`, "c1")+`],"total_count":1}`)
		})
		got, err := newTestClient(t, srv).SearchConversationsByContact(context.Background(), "c1", time.Unix(1734537000, 0))
		if err != nil || len(got) != 1 || got[0].ID != "7" {
			t.Errorf("status %d: got %v, %v", status, got, err)
			continue
		}
		reqs := srv.requests()
		if len(reqs) != 2 || string(reqs[0].Body) != string(reqs[1].Body) {
			t.Errorf("status %d: %d requests, bodies %s / %s", status, len(reqs), reqs[0].Body, reqs[len(reqs)-1].Body)
		}
	}
}

func TestCompareIDs(t *testing.T) {
	tests := []struct {
		a, b string
		want int // sign
	}{
		{"99", "100", -1},
		{"100", "99", 1},
		{"515", "515", 0},
		{"0100", "99", 1},
		{"abc", "abd", -1},
		{"9", "a", -1},
	}
	for _, tt := range tests {
		got := compareIDs(tt.a, tt.b)
		if sign(got) != tt.want {
			t.Errorf("compareIDs(%q, %q) = %d, want sign %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
