package intercomtest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAuthentication(t *testing.T) {
	s := NewServer(WithToken("secret-token"))
	defer s.Close()
	for _, tc := range []struct {
		name   string
		header string
		want   int
	}{
		{"missing", "Authorization:", http.StatusUnauthorized},
		{"wrong token", "Authorization: Bearer nope", http.StatusUnauthorized},
		{"basic scheme", "Authorization: Basic secret-token", http.StatusUnauthorized},
		{"no scheme", "Authorization: secret-token", http.StatusUnauthorized},
		{"right", "Authorization: Bearer secret-token", http.StatusNotFound},
		{"scheme case-insensitive", "Authorization: bearer secret-token", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, http.MethodGet, "/contacts/nobody", nil, tc.header)
			mustStatus(t, r, tc.want)
			if tc.want == http.StatusUnauthorized {
				if r.str("type") != "error.list" || r.errCode() != "unauthorized" || r.errMessage() != "Access Token Invalid" {
					t.Errorf("body = %s", r.body)
				}
				if r.str("request_id") == "" {
					t.Errorf("no request_id in %s", r.body)
				}
				if h := r.header.Get("X-RateLimit-Limit"); h != "" {
					t.Errorf("unauthenticated answer carries X-RateLimit-Limit %q", h)
				}
			} else if r.header.Get("X-RateLimit-Limit") != "83" {
				t.Errorf("X-RateLimit-Limit = %q, want 83", r.header.Get("X-RateLimit-Limit"))
			}
		})
	}
	// Every authenticated answer carries the rate-limit headers, errors too.
	for _, h := range []string{"Accept: text/html", "Intercom-Version: 9.9"} {
		r := do(t, s, http.MethodGet, "/contacts/x", nil, "Authorization: Bearer secret-token", h)
		if r.status < 400 || r.header.Get("X-RateLimit-Limit") != "83" || r.header.Get("X-RateLimit-Reset") == "" {
			t.Errorf("%s: status %d, X-RateLimit-Limit %q", h, r.status, r.header.Get("X-RateLimit-Limit"))
		}
	}
	if s.Token != "secret-token" {
		t.Errorf("Token = %q", s.Token)
	}
}

func TestAcceptAndVersion(t *testing.T) {
	s := newTestServer(t)
	strict := newTestServer(t, WithStrictAccept())
	for _, tc := range []struct {
		name   string
		srv    *Server
		header string
		want   int
		code   string
	}{
		{"json", s, "Accept: application/json", 404, "not_found"},
		{"wildcard", s, "Accept: text/html, */*;q=0.1", 404, "not_found"},
		{"html only", s, "Accept: text/html", 406, "not_acceptable"},
		{"missing accept", s, "Accept:", 404, "not_found"},
		{"missing accept strict", strict, "Accept:", 406, "not_acceptable"},
		{"version 2.16", s, "Intercom-Version: 2.16", 404, "not_found"},
		{"version 1.4", s, "Intercom-Version: 1.4", 404, "not_found"},
		{"version 2.17", s, "Intercom-Version: 2.17", 400, "intercom_version_invalid"},
		{"version 2.016", s, "Intercom-Version: 2.016", 400, "intercom_version_invalid"},
		{"version junk", s, "Intercom-Version: Unstable", 400, "intercom_version_invalid"},
		{"no version", s, "Intercom-Version:", 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.srv, http.MethodGet, "/contacts/nobody", nil, tc.header)
			mustStatus(t, r, tc.want)
			if r.errCode() != tc.code {
				t.Errorf("code = %q, want %q", r.errCode(), tc.code)
			}
		})
	}
}

func TestCreateContact(t *testing.T) {
	s := newTestServer(t)
	r := do(t, s, http.MethodPost, "/contacts", map[string]any{"role": "lead", "phone": "+15551234567", "name": "Ann"})
	mustStatus(t, r, 200)
	id := r.str("id")
	if r.str("type") != "contact" || r.str("role") != "lead" || r.str("phone") != "+15551234567" ||
		r.str("name") != "Ann" || len(id) != 24 || r.str("workspace_id") != DefaultAppID {
		t.Fatalf("contact = %s", r.body)
	}
	if r.obj["external_id"] != nil {
		t.Errorf("external_id = %v, want null", r.obj["external_id"])
	}
	got, ok := s.Contact(id)
	if !ok || got.Phone != "+15551234567" || got.Role != "lead" {
		t.Fatalf("stored contact = %+v, %v", got, ok)
	}

	user := do(t, s, http.MethodPost, "/contacts", map[string]any{"role": "user", "external_id": "cust-1", "email": "Bo@example.com"})
	mustStatus(t, user, 200)

	for _, tc := range []struct {
		name string
		body any
		want int
		code string
		msg  string
	}{
		{"same phone", map[string]any{"role": "lead", "phone": "+15551234567"}, 409, "conflict",
			"A contact matching those details already exists with id=" + id},
		{"same phone formatted differently", map[string]any{"role": "lead", "phone": "+1 (555) 123-4567"}, 409, "conflict",
			"A contact matching those details already exists with id=" + id},
		{"same external id", map[string]any{"external_id": "cust-1"}, 409, "conflict",
			"A contact matching those details already exists with id=" + user.str("id")},
		{"same email other case", map[string]any{"email": "bo@EXAMPLE.com"}, 409, "conflict",
			"A contact matching those details already exists with id=" + user.str("id")},
		{"no identifying field", map[string]any{"phone": "+15550000000"}, 400, "parameter_invalid", ""},
		{"bad role", map[string]any{"role": "visitor"}, 400, "parameter_invalid", ""},
		{"not json", "{", 400, "parameter_invalid", ""},
		{"empty body", "", 400, "parameter_invalid", ""},
		{"wrong type", map[string]any{"role": 7}, 400, "parameter_invalid", ""},
		{"user with email only defaults to user", map[string]any{"email": "new@example.com"}, 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, http.MethodPost, "/contacts", tc.body)
			mustStatus(t, r, tc.want)
			if r.errCode() != tc.code {
				t.Errorf("code = %q, want %q", r.errCode(), tc.code)
			}
			if tc.msg != "" && r.errMessage() != tc.msg {
				t.Errorf("message = %q, want %q", r.errMessage(), tc.msg)
			}
			if tc.want == 200 && r.str("role") != "user" {
				t.Errorf("role = %q, want user", r.str("role"))
			}
		})
	}
	if n := len(s.Contacts()); n != 3 {
		t.Errorf("%d contacts stored, want 3", n)
	}
}

func TestShowContactAndMerge(t *testing.T) {
	s := newTestServer(t)
	a, err := s.AddContact(Contact{Phone: "+15550000001"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.AddContact(Contact{Role: "user", ExternalID: "b"})
	c, _ := s.AddContact(Contact{Role: "user", ExternalID: "c"})

	r := do(t, s, http.MethodGet, "/contacts/"+a.ID, nil)
	mustStatus(t, r, 200)
	if r.str("id") != a.ID || r.str("role") != "lead" || r.str("phone") != a.Phone {
		t.Errorf("contact = %s", r.body)
	}

	r = do(t, s, http.MethodGet, "/contacts/0123456789abcdef01234567", nil)
	mustStatus(t, r, 404)
	if r.errCode() != "not_found" {
		t.Errorf("code = %q", r.errCode())
	}

	conv, err := s.StartConversation(a.ID, "hi")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MergeContact(a.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.MergeContact(b.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	r = do(t, s, http.MethodGet, "/contacts/"+a.ID, nil)
	mustStatus(t, r, 410)
	if r.errCode() != "contact_merged" {
		t.Errorf("code = %q", r.errCode())
	}
	if got, want := r.header.Get("Link"), `</contacts/`+c.ID+`>; rel="canonical"`; got != want {
		t.Errorf("Link = %q, want %q", got, want)
	}
	if got, _ := s.Conversation(conv.ID); len(got.ContactIDs) != 1 || got.ContactIDs[0] != c.ID {
		t.Errorf("conversation contacts after merge = %v, want [%s]", got.ContactIDs, c.ID)
	}
	// The target took the phone the merged lead had and it had not; the
	// merged contact itself no longer conflicts.
	if got, _ := s.Contact(c.ID); got.Phone != a.Phone || got.UpdatedAt.IsZero() {
		t.Errorf("target after merge = %+v, want phone %s and an UpdatedAt", got, a.Phone)
	}
	if _, err := s.AddContact(Contact{Phone: a.Phone}); err == nil || !strings.Contains(err.Error(), c.ID) {
		t.Errorf("phone taken over by the target: err = %v, want a conflict naming %s", err, c.ID)
	}
	if _, err := s.AddContact(Contact{Role: "user", ExternalID: "a-again", Phone: "+15550000009"}); err != nil {
		t.Errorf("a new contact after the merge: %v", err)
	}

	for _, tc := range []struct{ from, into string }{
		{a.ID, c.ID}, // already merged
		{c.ID, c.ID}, // itself
		{"nope", c.ID},
		{c.ID, "nope"},
		{c.ID, b.ID}, // into a merged contact
	} {
		if err := s.MergeContact(tc.from, tc.into); err == nil {
			t.Errorf("MergeContact(%q, %q) = nil, want an error", tc.from, tc.into)
		}
	}
}

func TestAddContactValidation(t *testing.T) {
	s := newTestServer(t)
	if _, err := s.AddContact(Contact{Role: "admin"}); err == nil {
		t.Error("bad role accepted")
	}
	a, err := s.AddContact(Contact{Phone: "+15550000001"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddContact(Contact{Phone: "0015550000001"}); err == nil || !strings.Contains(err.Error(), a.ID) {
		t.Errorf("duplicate phone: err = %v, want a conflict naming %s", err, a.ID)
	}
	if _, err := s.AddContact(Contact{ID: a.ID}); err == nil {
		t.Error("duplicate id accepted")
	}
	if _, err := s.AddContact(Contact{MergedInto: a.ID}); err == nil {
		t.Error("MergedInto accepted")
	}
}

func searchIDs(t *testing.T, s *Server, body any) ([]string, result) {
	t.Helper()
	r := do(t, s, http.MethodPost, "/contacts/search", body)
	if r.status != 200 {
		return nil, r
	}
	if r.str("type") != "list" {
		t.Fatalf("search answer = %s", r.body)
	}
	var ids []string
	for _, d := range r.obj["data"].([]any) {
		ids = append(ids, d.(map[string]any)["id"].(string))
	}
	return ids, r
}

func TestSearchContacts(t *testing.T) {
	s := newTestServer(t)
	ann, _ := s.AddContact(Contact{Phone: "+15551110001", Name: "Ann"})
	bob, _ := s.AddContact(Contact{Phone: "+1 555 111 0002", Name: "Bob", Role: "user", Email: "bob@example.com"})
	cat, _ := s.AddContact(Contact{Phone: "+445550003", Name: "Cat"})
	dan, _ := s.AddContact(Contact{Phone: "+15551110004", Name: "Dan"})
	if err := s.MergeContact(dan.ID, bob.ID); err != nil {
		t.Fatal(err)
	}
	eq := func(field, value string) map[string]any {
		return map[string]any{"field": field, "operator": "=", "value": value}
	}
	q := func(query any) map[string]any { return map[string]any{"query": query} }
	for _, tc := range []struct {
		name string
		body any
		want []string
		code string
	}{
		{"phone =", q(eq("phone", "+15551110001")), []string{ann.ID}, ""},
		{"phone = is exact", q(eq("phone", "+15551110002")), nil, ""},
		{"formatted_phone =", q(eq("formatted_phone", "+15551110002")), []string{bob.ID}, ""},
		{"OR of phone and formatted_phone", q(map[string]any{"operator": "OR", "value": []any{
			eq("phone", "+15551110002"), eq("formatted_phone", "+15551110002")}}), []string{bob.ID}, ""},
		{"AND with role", q(map[string]any{"operator": "AND", "value": []any{
			eq("formatted_phone", "+15551110002"), eq("role", "lead")}}), nil, ""},
		{"AND with role matches", q(map[string]any{"operator": "AND", "value": []any{
			eq("formatted_phone", "+15551110002"), eq("role", "user")}}), []string{bob.ID}, ""},
		{"nested groups", q(map[string]any{"operator": "OR", "value": []any{
			eq("name", "Cat"),
			map[string]any{"operator": "AND", "value": []any{eq("role", "lead"), eq("name", "Ann")}}}}),
			[]string{ann.ID, cat.ID}, ""},
		{"merged contact excluded", q(eq("phone", "+15551110004")), nil, ""},
		{"starts with", q(map[string]any{"field": "phone", "operator": "^", "value": "+1555"}), []string{ann.ID}, ""},
		{"ends with", q(map[string]any{"field": "formatted_phone", "operator": "$", "value": "0003"}), []string{cat.ID}, ""},
		{"contains", q(map[string]any{"field": "name", "operator": "~", "value": "o"}), []string{bob.ID}, ""},
		{"not contains", q(map[string]any{"field": "name", "operator": "!~", "value": "n"}), []string{bob.ID, cat.ID}, ""},
		{"not equal", q(map[string]any{"field": "role", "operator": "!=", "value": "lead"}), []string{bob.ID}, ""},
		{"IN", q(map[string]any{"field": "name", "operator": "IN", "value": []string{"Ann", "Cat"}}), []string{ann.ID, cat.ID}, ""},
		{"NIN", q(map[string]any{"field": "name", "operator": "NIN", "value": []string{"Ann", "Cat"}}), []string{bob.ID}, ""},
		{"= null", q(map[string]any{"field": "email", "operator": "=", "value": nil}), []string{ann.ID, cat.ID}, ""},
		{"descending", map[string]any{"query": eq("role", "lead"), "sort": map[string]any{"field": "created_at", "order": "descending"}},
			[]string{cat.ID, ann.ID}, ""},
		{"missing query", map[string]any{}, nil, "parameter_not_found"},
		{"unknown field", q(eq("shoe_size", "9")), nil, "parameter_invalid"},
		{"unknown operator", q(map[string]any{"field": "phone", "operator": "==", "value": "x"}), nil, "parameter_invalid"},
		{"number for string", q(map[string]any{"field": "phone", "operator": "=", "value": 5}), nil, "parameter_invalid"},
		{"range on string", q(map[string]any{"field": "phone", "operator": ">", "value": "5"}), nil, "parameter_invalid"},
		{"bad group operator", q(map[string]any{"operator": "XOR", "value": []any{eq("phone", "1")}}), nil, "parameter_invalid"},
		{"empty group", q(map[string]any{"operator": "OR", "value": []any{}}), nil, "parameter_invalid"},
		{"too deep", q(map[string]any{"operator": "OR", "value": []any{map[string]any{"operator": "OR", "value": []any{
			map[string]any{"operator": "OR", "value": []any{eq("phone", "1")}}}}}}), nil, "parameter_invalid"},
		{"16 filters", q(map[string]any{"operator": "OR", "value": func() []any {
			var v []any
			for i := range 16 {
				v = append(v, eq("phone", fmt.Sprint(i)))
			}
			return v
		}()}), nil, "parameter_invalid"},
		{"bad sort", map[string]any{"query": eq("phone", "1"), "sort": map[string]any{"field": "name", "order": "desc"}}, nil, "invalid_sort_order"},
		{"bad per_page", map[string]any{"query": eq("phone", "1"), "pagination": map[string]any{"per_page": 151}}, nil, "parameter_invalid"},
		{"bad cursor", map[string]any{"query": eq("phone", "1"), "pagination": map[string]any{"starting_after": "%%%"}}, nil, "parameter_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, r := searchIDs(t, s, tc.body)
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
	if !strings.Contains(do(t, s, http.MethodPost, "/contacts/search", map[string]any{"query": eq("phone", "1"),
		"sort": map[string]any{"order": "desc"}}).errMessage(), "Invalid sort order 'desc'. Must be one of: ascending, descending") {
		t.Error("invalid_sort_order message differs from the real one")
	}
}

func TestSearchPagination(t *testing.T) {
	s := newTestServer(t)
	var want []string
	for i := range 7 {
		c, err := s.AddContact(Contact{Phone: fmt.Sprintf("+1555000%04d", i)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, c.ID)
	}
	var got []string
	body := map[string]any{"query": map[string]any{"field": "role", "operator": "=", "value": "lead"},
		"pagination": map[string]any{"per_page": 3}}
	for page := 1; ; page++ {
		ids, r := searchIDs(t, s, body)
		mustStatus(t, r, 200)
		got = append(got, ids...)
		pages := r.obj["pages"].(map[string]any)
		if pages["type"] != "pages" || int(pages["page"].(float64)) != page || pages["total_pages"].(float64) != 3 {
			t.Fatalf("pages = %v", pages)
		}
		next, ok := pages["next"].(map[string]any)
		if !ok {
			break
		}
		body["pagination"] = map[string]any{"per_page": 3, "starting_after": next["starting_after"]}
		if page > 3 {
			t.Fatal("pagination does not end")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged ids = %v, want %v", got, want)
	}
}

func TestSearchLag(t *testing.T) {
	s := newTestServer(t, WithSearchLag(300*time.Millisecond))
	r := do(t, s, http.MethodPost, "/contacts", map[string]any{"role": "lead", "phone": "+15559990000"})
	mustStatus(t, r, 200)
	q := map[string]any{"query": map[string]any{"field": "phone", "operator": "=", "value": "+15559990000"}}
	if ids, _ := searchIDs(t, s, q); len(ids) != 0 {
		t.Fatalf("a new contact is visible at once: %v", ids)
	}
	// Invisible to search, yet a second create conflicts: the real trap.
	mustStatus(t, do(t, s, http.MethodPost, "/contacts", map[string]any{"role": "lead", "phone": "+15559990000"}), 409)
	time.Sleep(350 * time.Millisecond)
	if ids, _ := searchIDs(t, s, q); len(ids) != 1 || ids[0] != r.str("id") {
		t.Fatalf("after the lag, search = %v, want [%s]", ids, r.str("id"))
	}
}

func TestCreateConversation(t *testing.T) {
	s := newTestServer(t)
	ct, _ := s.AddContact(Contact{Phone: "+15550000001", Name: "Ann"})
	r := do(t, s, http.MethodPost, "/conversations", map[string]any{
		"from": map[string]any{"type": "lead", "id": ct.ID}, "body": "Hello <there>",
		"attachment_urls": []string{"https://media.example.com/a/photo.jpg"}})
	mustStatus(t, r, 200)
	if r.str("type") != "user_message" || r.str("body") != "Hello <there>" || r.str("message_type") != "inapp" ||
		r.str("conversation_id") == "" || r.str("id") == "" || r.obj["created_at"] == nil {
		t.Fatalf("message = %s", r.body)
	}
	conv, ok := s.Conversation(r.str("conversation_id"))
	if !ok {
		t.Fatal("conversation not stored")
	}
	if conv.State != StateOpen || conv.Source.Body != "<p>Hello &lt;there&gt;</p>" || conv.Source.Author.ID != ct.ID ||
		conv.Source.Author.Type != "lead" || len(conv.ContactIDs) != 1 || len(conv.Source.Attachments) != 1 ||
		conv.Source.Attachments[0].ContentType != "image/jpeg" || conv.Source.Attachments[0].Name != "photo.jpg" {
		t.Errorf("stored conversation = %+v", conv)
	}

	for _, tc := range []struct {
		name string
		body any
		want int
		msg  string
	}{
		{"unknown contact", map[string]any{"from": map[string]any{"type": "user", "id": "0123456789abcdef01234567"}, "body": "x"}, 404, "User Not Found"},
		{"missing from", map[string]any{"body": "x"}, 400, ""},
		{"bad from type", map[string]any{"from": map[string]any{"type": "admin", "id": ct.ID}, "body": "x"}, 400, ""},
		{"missing body", map[string]any{"from": map[string]any{"type": "lead", "id": ct.ID}}, 400, ""},
		{"bad attachment", map[string]any{"from": map[string]any{"type": "lead", "id": ct.ID}, "body": "x",
			"attachment_urls": []string{"ftp://x/y"}}, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, http.MethodPost, "/conversations", tc.body)
			mustStatus(t, r, tc.want)
			if tc.msg != "" && (r.errMessage() != tc.msg || r.errCode() != "not_found") {
				t.Errorf("error = %s", r.body)
			}
		})
	}
	if n := len(s.Conversations()); n != 1 {
		t.Errorf("%d conversations, want 1", n)
	}
}

func TestReplyConversation(t *testing.T) {
	s := newTestServer(t)
	ct, _ := s.AddContact(Contact{Phone: "+15550000001", Name: "Ann", Role: "user", ExternalID: "ext-1", Email: "ann@example.com"})
	conv, _ := s.StartConversation(ct.ID, "first")
	path := "/conversations/" + conv.ID + "/reply"

	r := do(t, s, http.MethodPost, path, map[string]any{"message_type": "comment", "type": "user",
		"intercom_user_id": ct.ID, "body": "Thanks\nagain", "attachment_urls": []string{"https://m.example.com/x.png"}})
	mustStatus(t, r, 200)
	if r.str("type") != "conversation" || r.str("id") != conv.ID || r.str("state") != "open" || r.obj["open"] != true {
		t.Fatalf("conversation = %s", r.body)
	}
	part := dig(t, r.obj, "conversation_parts", "conversation_parts", 0).(map[string]any)
	if part["part_type"] != "comment" || part["body"] != "<p>Thanks<br>again</p>" ||
		dig(t, part, "author", "type") != "user" || dig(t, part, "author", "id") != ct.ID ||
		dig(t, part, "attachments", 0, "url") != "https://m.example.com/x.png" || part["app_package_code"] != appPackageCode {
		t.Errorf("part = %v", part)
	}

	for _, ident := range []map[string]any{{"user_id": "ext-1"}, {"email": "ANN@example.com"}} {
		body := map[string]any{"message_type": "comment", "type": "user", "body": "<p>already <b>html</b></p>"}
		for k, v := range ident {
			body[k] = v
		}
		r := do(t, s, http.MethodPost, path, body)
		mustStatus(t, r, 200)
	}
	got, _ := s.Conversation(conv.ID)
	if len(got.Parts) != 3 || got.Parts[2].Body != "<p>already <b>html</b></p>" {
		t.Fatalf("parts = %+v", got.Parts)
	}

	// Closed conversations reopen on a contact reply.
	mustStatus(t, do(t, s, http.MethodPost, "/conversations/"+conv.ID+"/parts",
		map[string]any{"message_type": "close", "type": "admin", "admin_id": "991"}), 200)
	r = do(t, s, http.MethodPost, path, map[string]any{"message_type": "comment", "type": "user", "intercom_user_id": ct.ID, "body": "back"})
	mustStatus(t, r, 200)
	parts := dig(t, r.obj, "conversation_parts", "conversation_parts").([]any)
	last := parts[len(parts)-1].(map[string]any)
	if r.str("state") != "open" || last["part_type"] != "open" || last["body"] != "<p>back</p>" {
		t.Errorf("reopen: state %q, last part %v", r.str("state"), last)
	}

	// Admin comment and note.
	for _, mt := range []string{"comment", "note"} {
		r = do(t, s, http.MethodPost, path, map[string]any{"message_type": mt, "type": "admin", "admin_id": "991", "body": mt + " text"})
		mustStatus(t, r, 200)
		parts := dig(t, r.obj, "conversation_parts", "conversation_parts").([]any)
		last := parts[len(parts)-1].(map[string]any)
		if last["part_type"] != mt || dig(t, last, "author", "type") != "admin" || dig(t, last, "author", "id") != "991" ||
			last["body"] != "<p>"+mt+" text</p>" {
			t.Errorf("%s part = %v", mt, last)
		}
	}

	// "last" replies to the contact's latest conversation.
	conv2, _ := s.StartConversation(ct.ID, "second")
	r = do(t, s, http.MethodPost, "/conversations/last/reply", map[string]any{"message_type": "comment", "type": "user", "intercom_user_id": ct.ID, "body": "to last"})
	mustStatus(t, r, 200)
	if r.str("id") != conv2.ID {
		t.Errorf("last replied to %s, want %s", r.str("id"), conv2.ID)
	}

	for _, tc := range []struct {
		name string
		path string
		body map[string]any
		want int
	}{
		{"unknown conversation", "/conversations/999999/reply", map[string]any{"message_type": "comment", "type": "user", "intercom_user_id": ct.ID, "body": "x"}, 404},
		{"unknown contact", path, map[string]any{"message_type": "comment", "type": "user", "intercom_user_id": "0123456789abcdef01234567", "body": "x"}, 404},
		{"two identifiers", path, map[string]any{"message_type": "comment", "type": "user", "intercom_user_id": ct.ID, "email": "ann@example.com", "body": "x"}, 400},
		{"no identifier", path, map[string]any{"message_type": "comment", "type": "user", "body": "x"}, 400},
		{"contact note", path, map[string]any{"message_type": "note", "type": "user", "intercom_user_id": ct.ID, "body": "x"}, 400},
		{"no body", path, map[string]any{"message_type": "comment", "type": "user", "intercom_user_id": ct.ID}, 400},
		{"bad type", path, map[string]any{"message_type": "comment", "type": "bot", "body": "x"}, 400},
		{"admin without id", path, map[string]any{"message_type": "comment", "type": "admin", "body": "x"}, 400},
		{"admin id not digits", path, map[string]any{"message_type": "comment", "type": "admin", "admin_id": "bob", "body": "x"}, 400},
		{"admin bad message_type", path, map[string]any{"message_type": "close", "type": "admin", "admin_id": "1", "body": "x"}, 400},
		{"admin empty note", path, map[string]any{"message_type": "note", "type": "admin", "admin_id": "1", "body": " "}, 400},
		{"eleven attachments", path, map[string]any{"message_type": "comment", "type": "user", "intercom_user_id": ct.ID, "body": "x",
			"attachment_urls": strings.Split(strings.Repeat("https://a.example/x ", 11), " ")[:11]}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, http.MethodPost, tc.path, tc.body)
			mustStatus(t, r, tc.want)
			if tc.want == 404 && r.errCode() != "not_found" {
				t.Errorf("code = %q", r.errCode())
			}
		})
	}
}

func TestManageConversation(t *testing.T) {
	s := newTestServer(t)
	ct, _ := s.AddContact(Contact{Phone: "+15550000001"})
	conv, _ := s.StartConversation(ct.ID, "hi")
	path := "/conversations/" + conv.ID + "/parts"
	lastPart := func(r result) map[string]any {
		parts := dig(t, r.obj, "conversation_parts", "conversation_parts").([]any)
		return parts[len(parts)-1].(map[string]any)
	}

	r := do(t, s, http.MethodPost, path, map[string]any{"message_type": "assignment", "type": "admin", "admin_id": "1", "assignee_id": "42"})
	mustStatus(t, r, 200)
	if r.obj["admin_assignee_id"] != float64(42) || r.obj["team_assignee_id"] != float64(0) ||
		lastPart(r)["part_type"] != "assignment" || dig(t, lastPart(r), "assigned_to", "id") != "42" {
		t.Errorf("admin assignment: %s", r.body)
	}
	r = do(t, s, http.MethodPost, path, map[string]any{"message_type": "assignment", "type": "team", "admin_id": "1", "assignee_id": "7", "body": "over to you"})
	mustStatus(t, r, 200)
	if r.obj["team_assignee_id"] != float64(7) || r.obj["admin_assignee_id"] != float64(42) || lastPart(r)["body"] != "<p>over to you</p>" {
		t.Errorf("team assignment: %s", r.body)
	}
	r = do(t, s, http.MethodPost, path, map[string]any{"message_type": "assignment", "type": "admin", "admin_id": "1", "assignee_id": "0"})
	mustStatus(t, r, 200)
	if r.obj["admin_assignee_id"] != float64(0) || lastPart(r)["assigned_to"] != nil {
		t.Errorf("unassign: %s", r.body)
	}

	r = do(t, s, http.MethodPost, path, map[string]any{"message_type": "close", "type": "admin", "admin_id": "1", "body": "Goodbye :)"})
	mustStatus(t, r, 200)
	if r.str("state") != "closed" || r.obj["open"] != false || lastPart(r)["part_type"] != "close" || lastPart(r)["body"] != "<p>Goodbye :)</p>" {
		t.Errorf("close: %s", r.body)
	}
	r = do(t, s, http.MethodPost, path, map[string]any{"message_type": "assignment", "type": "admin", "admin_id": "1", "assignee_id": "5"})
	mustStatus(t, r, 200)
	if r.str("state") != "open" || lastPart(r)["part_type"] != "assign_and_reopen" {
		t.Errorf("assign closed: %s", r.body)
	}
	until := time.Now().Add(time.Hour).Unix()
	r = do(t, s, http.MethodPost, path, map[string]any{"message_type": "snoozed", "admin_id": "1", "snoozed_until": until})
	mustStatus(t, r, 200)
	if r.str("state") != "snoozed" || r.obj["open"] != true || r.obj["snoozed_until"] != float64(until) || lastPart(r)["part_type"] != "snoozed" ||
		lastPart(r)["body"] != nil {
		t.Errorf("snooze: %s", r.body)
	}
	r = do(t, s, http.MethodPost, path, map[string]any{"message_type": "open", "admin_id": "1"})
	mustStatus(t, r, 200)
	if r.str("state") != "open" || r.obj["snoozed_until"] != nil || lastPart(r)["part_type"] != "open" {
		t.Errorf("open: %s", r.body)
	}

	for _, tc := range []struct {
		name string
		path string
		body map[string]any
		want int
	}{
		{"unknown conversation", "/conversations/424242/parts", map[string]any{"message_type": "open", "admin_id": "1"}, 404},
		{"no admin", path, map[string]any{"message_type": "open"}, 400},
		{"bad message_type", path, map[string]any{"message_type": "reopen", "admin_id": "1"}, 400},
		{"close without type", path, map[string]any{"message_type": "close", "admin_id": "1"}, 400},
		{"snooze in the past", path, map[string]any{"message_type": "snoozed", "admin_id": "1", "snoozed_until": 1}, 400},
		{"assign bad type", path, map[string]any{"message_type": "assignment", "type": "bot", "admin_id": "1", "assignee_id": "2"}, 400},
		{"assign without assignee", path, map[string]any{"message_type": "assignment", "type": "admin", "admin_id": "1"}, 400},
		{"assign to a name", path, map[string]any{"message_type": "assignment", "type": "admin", "admin_id": "1", "assignee_id": "bob"}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustStatus(t, do(t, s, http.MethodPost, tc.path, tc.body), tc.want)
		})
	}
}

func TestTagConversation(t *testing.T) {
	s := newTestServer(t)
	ct, _ := s.AddContact(Contact{Phone: "+15550000001"})
	conv, _ := s.StartConversation(ct.ID, "hi")
	tag, err := s.AddTag("sms")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.AddTag("SMS"); again.ID != tag.ID {
		t.Errorf("AddTag is not case-insensitive: %v vs %v", again, tag)
	}
	if _, err := s.AddTag(" "); err == nil {
		t.Error("empty tag name accepted")
	}
	path := "/conversations/" + conv.ID + "/tags"
	for range 2 {
		r := do(t, s, http.MethodPost, path, map[string]any{"id": tag.ID, "admin_id": "12"})
		mustStatus(t, r, 200)
		if r.str("type") != "tag" || r.str("id") != tag.ID || r.str("name") != "sms" ||
			dig(t, r.obj, "applied_by", "id") != "12" || dig(t, r.obj, "applied_by", "type") != "admin" || r.obj["applied_at"] == nil {
			t.Errorf("tag = %s", r.body)
		}
	}
	got, _ := s.Conversation(conv.ID)
	if len(got.Tags) != 1 || got.Tags[0].ID != tag.ID || got.Tags[0].AppliedBy != "12" {
		t.Errorf("conversation tags = %+v", got.Tags)
	}
	r := do(t, s, http.MethodGet, "/conversations/"+conv.ID, nil)
	if dig(t, r.obj, "tags", "tags", 0, "name") != "sms" {
		t.Errorf("retrieved tags = %v", r.obj["tags"])
	}
	for _, tc := range []struct {
		name string
		path string
		body map[string]any
		want int
		code string
	}{
		{"unknown conversation", "/conversations/9999/tags", map[string]any{"id": tag.ID, "admin_id": "12"}, 404, "not_found"},
		{"unknown tag", path, map[string]any{"id": "1", "admin_id": "12"}, 404, "tag_not_found"},
		{"no admin", path, map[string]any{"id": tag.ID}, 400, "parameter_not_found"},
		{"no id", path, map[string]any{"admin_id": "12"}, 400, "parameter_not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, http.MethodPost, tc.path, tc.body)
			mustStatus(t, r, tc.want)
			if r.errCode() != tc.code {
				t.Errorf("code = %q, want %q", r.errCode(), tc.code)
			}
		})
	}
}

func TestRetrieveConversation(t *testing.T) {
	s := newTestServer(t)
	ct, _ := s.AddContact(Contact{Role: "user", Phone: "+15550000001", ExternalID: "e1", Name: "Ann"})
	conv, _ := s.StartConversation(ct.ID, "Hello & welcome")
	mustStatus(t, do(t, s, http.MethodPost, "/conversations/"+conv.ID+"/reply", map[string]any{
		"message_type": "comment", "type": "admin", "admin_id": "5", "body": "<p>Hi <b>Ann</b></p><p>Bye</p>"}), 200)

	r := do(t, s, http.MethodGet, "/conversations/"+conv.ID, nil)
	mustStatus(t, r, 200)
	if r.str("id") != conv.ID || r.str("state") != "open" || r.obj["open"] != true ||
		dig(t, r.obj, "source", "body") != "<p>Hello &amp; welcome</p>" || dig(t, r.obj, "source", "author", "id") != ct.ID ||
		dig(t, r.obj, "contacts", "type") != "contact.list" || dig(t, r.obj, "contacts", "contacts", 0, "id") != ct.ID ||
		dig(t, r.obj, "contacts", "contacts", 0, "external_id") != "e1" ||
		dig(t, r.obj, "conversation_parts", "type") != "conversation_part.list" ||
		dig(t, r.obj, "conversation_parts", "total_count") != float64(1) {
		t.Fatalf("conversation = %s", r.body)
	}
	part := dig(t, r.obj, "conversation_parts", "conversation_parts", 0).(map[string]any)
	if part["id"] == "" || part["type"] != "conversation_part" || part["part_type"] != "comment" ||
		part["body"] != "<p>Hi <b>Ann</b></p><p>Bye</p>" || dig(t, part, "author", "type") != "admin" ||
		part["created_at"] == nil {
		t.Errorf("part = %v", part)
	}

	r = do(t, s, http.MethodGet, "/conversations/"+conv.ID+"?display_as=plaintext", nil)
	if got := dig(t, r.obj, "conversation_parts", "conversation_parts", 0, "body"); got != "Hi Ann\nBye" {
		t.Errorf("plaintext body = %q", got)
	}
	if got := dig(t, r.obj, "source", "body"); got != "Hello & welcome" {
		t.Errorf("plaintext source = %q", got)
	}

	mustStatus(t, do(t, s, http.MethodGet, "/conversations/12345", nil), 404)
	if err := s.DeleteConversation(conv.ID); err != nil {
		t.Fatal(err)
	}
	r = do(t, s, http.MethodGet, "/conversations/"+conv.ID, nil)
	mustStatus(t, r, 404)
	if r.errCode() != "not_found" {
		t.Errorf("code = %q", r.errCode())
	}
	mustStatus(t, do(t, s, http.MethodPost, "/conversations/"+conv.ID+"/reply", map[string]any{
		"message_type": "comment", "type": "user", "intercom_user_id": ct.ID, "body": "x"}), 404)
	if err := s.DeleteConversation(conv.ID); err == nil {
		t.Error("deleting twice succeeded")
	}
	if _, ok := s.Conversation(conv.ID); ok {
		t.Error("deleted conversation still listed")
	}
}

func TestUnknownEndpoint(t *testing.T) {
	s := newTestServer(t)
	for _, p := range [][2]string{{"DELETE", "/contacts/x"}, {"GET", "/admins"}, {"PUT", "/conversations/1"}} {
		r := do(t, s, p[0], p[1], nil)
		mustStatus(t, r, 404)
		if !strings.Contains(r.errMessage(), "does not implement") {
			t.Errorf("%s %s: %s", p[0], p[1], r.body)
		}
	}
}
