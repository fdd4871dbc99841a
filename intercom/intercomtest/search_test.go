package intercomtest

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// searchConversationIDs posts a conversation search and returns the ids of
// the conversations found, in answer order.
func searchConversationIDs(t *testing.T, s *Server, body any) ([]string, result) {
	t.Helper()
	r := do(t, s, http.MethodPost, "/conversations/search", body)
	if r.status != 200 {
		return nil, r
	}
	if r.str("type") != "conversation.list" {
		t.Fatalf("search answer = %s", r.body)
	}
	var ids []string
	for _, c := range r.obj["conversations"].([]any) {
		ids = append(ids, c.(map[string]any)["id"].(string))
	}
	return ids, r
}

// startAt creates a conversation through the API, backdated to at.
func startAt(t *testing.T, s *Server, contactID, body string, at int64) string {
	t.Helper()
	r := do(t, s, http.MethodPost, "/conversations", map[string]any{
		"from": map[string]any{"type": "contact", "id": contactID}, "body": body, "created_at": at})
	mustStatus(t, r, 200)
	return r.str("conversation_id")
}

func TestSearchConversations(t *testing.T) {
	s := newTestServer(t)
	ann, _ := s.AddContact(Contact{Phone: "+15551110001"})
	bob, _ := s.AddContact(Contact{Phone: "+15551110002", Role: "user"})
	a1 := startAt(t, s, ann.ID, "first", 1734537000)
	b1 := startAt(t, s, bob.ID, "bob's", 1734537100)
	a2 := startAt(t, s, ann.ID, "second", 1734537200)
	a3 := startAt(t, s, ann.ID, "third", 1734537300)
	mustStatus(t, do(t, s, http.MethodPost, "/conversations/"+a3+"/parts",
		map[string]any{"message_type": "close", "type": "admin", "admin_id": "991"}), 200)
	mustStatus(t, do(t, s, http.MethodPost, "/conversations/"+a2+"/parts",
		map[string]any{"message_type": "assignment", "type": "admin", "admin_id": "991", "assignee_id": "992"}), 200)

	f := func(field, op string, value any) map[string]any {
		return map[string]any{"field": field, "operator": op, "value": value}
	}
	and := func(fs ...any) map[string]any { return map[string]any{"operator": "AND", "value": fs} }
	or := func(fs ...any) map[string]any { return map[string]any{"operator": "OR", "value": fs} }
	q := func(query any) map[string]any { return map[string]any{"query": query} }
	for _, tc := range []struct {
		name string
		body any
		want []string
		code string
	}{
		{"contact_ids", q(f("contact_ids", "=", ann.ID)), []string{a1, a2, a3}, ""},
		{"contact and created_at, as the client asks", map[string]any{
			"query":      and(f("contact_ids", "=", ann.ID), f("created_at", ">", "1734537199")),
			"pagination": map[string]any{"per_page": 150}}, []string{a2, a3}, ""},
		{"created_at > is strict", q(and(f("contact_ids", "=", ann.ID), f("created_at", ">", 1734537200))), []string{a3}, ""},
		{"created_at <", q(f("created_at", "<", "1734537200")), []string{a1, b1}, ""},
		{"created_at =", q(f("created_at", "=", 1734537100)), []string{b1}, ""},
		{"state", q(f("state", "=", "closed")), []string{a3}, ""},
		{"open", q(f("open", "=", false)), []string{a3}, ""},
		{"id", q(f("id", "=", b1)), []string{b1}, ""},
		{"id IN", q(f("id", "IN", []string{a1, b1, "999"})), []string{a1, b1}, ""},
		{"source.author.id", q(f("source.author.id", "=", bob.ID)), []string{b1}, ""},
		{"source.author.type", q(f("source.author.type", "=", "user")), []string{b1}, ""},
		{"admin_assignee_id", q(f("admin_assignee_id", "=", 992)), []string{a2}, ""},
		{"OR group", q(or(f("state", "=", "closed"), f("contact_ids", "=", bob.ID))), []string{b1, a3}, ""},
		{"nested", q(or(f("id", "=", a1), and(f("contact_ids", "=", ann.ID), f("state", "=", "closed")))), []string{a1, a3}, ""},
		{"no match", q(f("contact_ids", "=", "6762f0dd0000000000000000")), nil, ""},
		{"missing query", map[string]any{"pagination": map[string]any{"per_page": 5}}, nil, "parameter_not_found"},
		{"date as word", q(f("created_at", ">", "yesterday")), nil, "parameter_invalid"},
		{"date >=", q(f("created_at", ">=", 1)), nil, "parameter_invalid"},
		{"range on string", q(f("contact_ids", ">", "a")), nil, "parameter_invalid"},
		{"number for string", q(f("contact_ids", "=", 5)), nil, "parameter_invalid"},
		{"unknown field", q(f("mood", "=", "happy")), nil, "parameter_invalid"},
		{"contact-only field", q(f("phone", "=", "+15551110001")), nil, "parameter_invalid"},
		{"bad per_page", map[string]any{"query": f("state", "=", "open"), "pagination": map[string]any{"per_page": 0}}, nil, "parameter_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, r := searchConversationIDs(t, s, tc.body)
			if tc.code != "" {
				mustStatus(t, r, 400)
				if r.errCode() != tc.code {
					t.Errorf("code = %q, want %q (%s)", r.errCode(), tc.code, r.body)
				}
				return
			}
			mustStatus(t, r, 200)
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Errorf("ids = %v, want %v", ids, tc.want)
			}
			if int(r.obj["total_count"].(float64)) != len(tc.want) {
				t.Errorf("total_count = %v, want %d", r.obj["total_count"], len(tc.want))
			}
		})
	}
}

// The items are rendered like GET /conversations/{id} renders them, minus
// the parts, which a conversation_list_item does not have.
func TestSearchConversationsItems(t *testing.T) {
	s := newTestServer(t)
	ann, _ := s.AddContact(Contact{Phone: "+15551110001", ExternalID: "cust-1", Role: "user"})
	id := startAt(t, s, ann.ID, "Is my order <shipped>?", 1734537000)
	mustStatus(t, do(t, s, http.MethodPost, "/conversations/"+id+"/reply",
		map[string]any{"message_type": "note", "type": "admin", "admin_id": "991", "body": "internal"}), 200)
	_, r := searchConversationIDs(t, s, map[string]any{"query": map[string]any{"field": "contact_ids", "operator": "=", "value": ann.ID}})
	mustStatus(t, r, 200)
	item := dig(t, r.obj, "conversations", 0).(map[string]any)
	for path, want := range map[string]any{
		"type":                            "conversation",
		"id":                              id,
		"created_at":                      float64(1734537000),
		"state":                           "open",
		"source.body":                     "<p>Is my order &lt;shipped&gt;?</p>",
		"source.author.id":                ann.ID,
		"source.author.type":              "user",
		"contacts.type":                   "contact.list",
		"contacts.contacts.0.id":          ann.ID,
		"contacts.contacts.0.external_id": "cust-1",
		"admin_assignee_id":               float64(0),
	} {
		if got := dig(t, item, splitPath(path)...); got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
	if _, ok := item["conversation_parts"]; ok {
		t.Errorf("a list item carries conversation_parts: %s", r.body)
	}
	pages := r.obj["pages"].(map[string]any)
	if pages["type"] != "pages" || pages["per_page"] != float64(20) || pages["page"] != float64(1) || pages["total_pages"] != float64(1) {
		t.Errorf("pages = %v", pages)
	}
	if _, ok := pages["next"]; ok {
		t.Errorf("a single page has a next cursor: %v", pages)
	}
}

// splitPath splits "contacts.contacts.0.id" into steps for dig, numbers as
// array indexes.
func splitPath(p string) []any {
	var out []any
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '.' {
			seg := p[start:i]
			var n int
			if _, err := fmt.Sscanf(seg, "%d", &n); err == nil && fmt.Sprint(n) == seg {
				out = append(out, n)
			} else {
				out = append(out, seg)
			}
			start = i + 1
		}
	}
	return out
}

func TestSearchConversationsPagination(t *testing.T) {
	s := newTestServer(t)
	ann, _ := s.AddContact(Contact{Phone: "+15551110001"})
	var want []string
	for i := range 23 {
		want = append(want, startAt(t, s, ann.ID, fmt.Sprint("message ", i), 1734537000+int64(i)))
	}
	var got []string
	body := map[string]any{"query": map[string]any{"field": "contact_ids", "operator": "=", "value": ann.ID}}
	for page := 1; ; page++ {
		ids, r := searchConversationIDs(t, s, body)
		mustStatus(t, r, 200)
		if page == 1 && len(ids) != 20 {
			t.Errorf("first page has %d conversations, want the default 20", len(ids))
		}
		got = append(got, ids...)
		pages := r.obj["pages"].(map[string]any)
		if int(pages["page"].(float64)) != page || pages["total_pages"] != float64(2) || r.obj["total_count"] != float64(23) {
			t.Fatalf("page %d: pages = %v, total_count = %v", page, pages, r.obj["total_count"])
		}
		next, ok := pages["next"].(map[string]any)
		if !ok {
			break
		}
		body["pagination"] = map[string]any{"per_page": 20, "starting_after": next["starting_after"]}
		if page > 2 {
			t.Fatal("pagination does not end")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged ids = %v, want %v", got, want)
	}
}

func TestSearchConversationsLagAndMerge(t *testing.T) {
	s := newTestServer(t, WithSearchLag(300*time.Millisecond))
	lead, _ := s.AddContact(Contact{Phone: "+15551110001", CreatedAt: time.Now().Add(-time.Hour)})
	user, _ := s.AddContact(Contact{Phone: "+15551110002", Role: "user", CreatedAt: time.Now().Add(-time.Hour)})
	// Backdated, yet stored just now: the index lags behind the write.
	id := startAt(t, s, lead.ID, "hello", time.Now().Add(-time.Hour).Unix())
	byContact := func(cid string) map[string]any {
		return map[string]any{"query": map[string]any{"field": "contact_ids", "operator": "=", "value": cid}}
	}
	if ids, r := searchConversationIDs(t, s, byContact(lead.ID)); r.status != 200 || len(ids) != 0 {
		t.Fatalf("a new conversation is visible at once: %v (%d)", ids, r.status)
	}
	mustStatus(t, do(t, s, http.MethodGet, "/conversations/"+id, nil), 200)
	if err := s.MergeContact(lead.ID, user.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(350 * time.Millisecond)
	if ids, _ := searchConversationIDs(t, s, byContact(user.ID)); fmt.Sprint(ids) != fmt.Sprint([]string{id}) {
		t.Errorf("after the lag and the merge, search by the user = %v, want [%s]", ids, id)
	}
	if ids, _ := searchConversationIDs(t, s, byContact(lead.ID)); len(ids) != 0 {
		t.Errorf("search by the merged lead = %v, want none", ids)
	}
	if err := s.DeleteConversation(id); err != nil {
		t.Fatal(err)
	}
	if ids, _ := searchConversationIDs(t, s, byContact(user.ID)); len(ids) != 0 {
		t.Errorf("a deleted conversation is found: %v", ids)
	}
}

// Authentication, the budget, faults and the record apply to the search as
// to every endpoint.
func TestSearchConversationsMachinery(t *testing.T) {
	s := NewServer(WithBudget(3, time.Minute))
	defer s.Close()
	body := map[string]any{"query": map[string]any{"field": "state", "operator": "=", "value": "open"}}
	mustStatus(t, do(t, s, http.MethodPost, "/conversations/search", body, "Authorization: Bearer wrong"), 401)
	if err := s.Fail("POST", "/conversations/search", Fault{Status: 503, Times: 1}); err != nil {
		t.Fatal(err)
	}
	r := do(t, s, http.MethodPost, "/conversations/search", body)
	mustStatus(t, r, 503)
	if r.errCode() != "service_unavailable" {
		t.Errorf("fault code = %q", r.errCode())
	}
	mustStatus(t, do(t, s, http.MethodPost, "/conversations/search", body), 200)
	mustStatus(t, do(t, s, http.MethodPost, "/conversations/search", body), 200)
	r = do(t, s, http.MethodPost, "/conversations/search", body)
	mustStatus(t, r, 429)
	if r.errCode() != "rate_limit_exceeded" || s.RateLimited() != 1 {
		t.Errorf("over budget: code %q, RateLimited %d", r.errCode(), s.RateLimited())
	}
	reqs := s.Requests()
	if len(reqs) != 5 || reqs[4].Path != "/conversations/search" || reqs[4].Status != 429 || len(reqs[1].Body) == 0 {
		t.Errorf("record = %+v", reqs)
	}
}

// StartConversationAt backdates a conversation as POST /conversations with
// created_at does: the API shows it alike, and the search by created_at
// sees its time, in whole seconds.
func TestStartConversationAt(t *testing.T) {
	s := newTestServer(t)
	ann, _ := s.AddContact(Contact{Phone: "+15551110001"})
	const early = 1734537000
	byAPI := startAt(t, s, ann.ID, "by the API", early)
	old, err := s.StartConversationAt(ann.ID, "an old one", time.Unix(early, 0))
	if err != nil {
		t.Fatal(err)
	}
	later, err := s.StartConversationAt(ann.ID, "a later one", time.Unix(early+60, 400_000_000))
	if err != nil {
		t.Fatal(err)
	}
	if !later.CreatedAt.Equal(time.Unix(early+60, 0)) {
		t.Errorf("CreatedAt = %v, want %v: Intercom stores whole seconds", later.CreatedAt, time.Unix(early+60, 0))
	}
	a, b := do(t, s, http.MethodGet, "/conversations/"+byAPI, nil), do(t, s, http.MethodGet, "/conversations/"+old.ID, nil)
	mustStatus(t, a, 200)
	mustStatus(t, b, 200)
	for _, k := range []string{"created_at", "updated_at", "state", "type"} {
		if a.obj[k] != b.obj[k] {
			t.Errorf("%s: %v by StartConversationAt, %v by the API", k, b.obj[k], a.obj[k])
		}
	}
	q := map[string]any{"query": map[string]any{"operator": "AND", "value": []any{
		map[string]any{"field": "contact_ids", "operator": "=", "value": ann.ID},
		map[string]any{"field": "created_at", "operator": ">", "value": fmt.Sprint(early)},
	}}}
	if ids, r := searchConversationIDs(t, s, q); r.status != 200 || fmt.Sprint(ids) != fmt.Sprint([]string{later.ID}) {
		t.Errorf("search created_at > %d = %v (%d), want [%s]", early, ids, r.status, later.ID)
	}
	for name, f := range map[string]func() error{
		"zero time":  func() error { _, err := s.StartConversationAt(ann.ID, "x", time.Time{}); return err },
		"future":     func() error { _, err := s.StartConversationAt(ann.ID, "x", time.Now().Add(time.Hour)); return err },
		"empty body": func() error { _, err := s.StartConversationAt(ann.ID, " ", time.Unix(early, 0)); return err },
		"no contact": func() error { _, err := s.StartConversationAt("nobody", "x", time.Unix(early, 0)); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if n := len(s.Conversations()); n != 3 {
		t.Errorf("%d conversations, want the 3 made", n)
	}
}
