package intercomtest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// With WithMergedContactStatus(404), a merged contact answers as the
// MergeContact admonition says: 404, and no Link.
func TestMergedContactStatus404(t *testing.T) {
	s := newTestServer(t, WithMergedContactStatus(http.StatusNotFound))
	lead, _ := s.AddContact(Contact{Phone: "+15550000001"})
	user, _ := s.AddContact(Contact{Role: "user", Email: "ann@example.com"})
	if err := s.MergeContact(lead.ID, user.ID); err != nil {
		t.Fatal(err)
	}
	r := do(t, s, http.MethodGet, "/contacts/"+lead.ID, nil)
	mustStatus(t, r, 404)
	if r.errCode() != "not_found" || r.header.Get("Link") != "" {
		t.Errorf("merged contact: code %q, Link %q; want not_found without a link", r.errCode(), r.header.Get("Link"))
	}
	r = do(t, s, http.MethodGet, "/contacts/"+user.ID, nil)
	mustStatus(t, r, 200)
	if r.str("phone") != lead.Phone {
		t.Errorf("target's phone = %q, want the lead's %q", r.str("phone"), lead.Phone)
	}

	for _, st := range []int{0, 200, 410 + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("WithMergedContactStatus(%d) accepted", st)
				}
			}()
			NewServer(WithMergedContactStatus(st)).Close()
		}()
	}
	NewServer(WithMergedContactStatus(http.StatusGone)).Close()
}

// Calls other than GET /contacts/{id} that name a merged contact answer
// 404 "User Not Found", whatever WithMergedContactStatus says.
func TestMergedContactElsewhere(t *testing.T) {
	for _, st := range []int{http.StatusGone, http.StatusNotFound} {
		t.Run(fmt.Sprint(st), func(t *testing.T) {
			s := newTestServer(t, WithMergedContactStatus(st))
			lead, _ := s.AddContact(Contact{Phone: "+15550000001"})
			user, _ := s.AddContact(Contact{Role: "user", ExternalID: "u1"})
			conv, err := s.StartConversation(lead.ID, "hi")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.MergeContact(lead.ID, user.ID); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				path string
				body any
			}{
				{"/conversations", map[string]any{"from": map[string]any{"type": "contact", "id": lead.ID}, "body": "x"}},
				{"/conversations/" + conv.ID + "/reply", map[string]any{"message_type": "comment", "type": "user", "intercom_user_id": lead.ID, "body": "x"}},
				{"/contacts/" + lead.ID + "/notes", map[string]any{"admin_id": "1", "body": "x"}},
			} {
				r := do(t, s, http.MethodPost, tc.path, tc.body)
				mustStatus(t, r, 404)
				if r.errCode() != "not_found" {
					t.Errorf("POST %s: code %q", tc.path, r.errCode())
				}
			}
			// The conversation moved to the target, which can reply on it.
			r := do(t, s, http.MethodPost, "/conversations/"+conv.ID+"/reply",
				map[string]any{"message_type": "comment", "type": "user", "intercom_user_id": user.ID, "body": "again"})
			mustStatus(t, r, 200)
			if got, _ := s.Conversation(conv.ID); len(got.Parts) != 1 || got.Parts[0].Author.ID != user.ID {
				t.Errorf("parts after the target's reply = %+v", got.Parts)
			}
		})
	}
}

// Several contacts can share one phone; search finds them all, with their
// role and updated_at; a merge updates the target.
func TestContactsSharingPhone(t *testing.T) {
	s := newTestServer(t)
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	user, err := s.AddContact(Contact{Role: "user", Phone: "+15550000001", Email: "ann@example.com", CreatedAt: old.Add(-time.Hour), UpdatedAt: old})
	if err != nil {
		t.Fatal(err)
	}
	lead, err := s.AddContactSharingPhone(Contact{Phone: "+1 555 000 0001", CreatedAt: old.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddContactSharingPhone(Contact{Phone: "+15550000001", Email: "ANN@example.com"}); err == nil || !strings.Contains(err.Error(), user.ID) {
		t.Errorf("a taken email: err = %v, want a conflict naming %s", err, user.ID)
	}
	if _, err := s.AddContactSharingPhone(Contact{}); err == nil {
		t.Error("AddContactSharingPhone without a phone accepted")
	}
	if _, err := s.AddContactSharingPhone(Contact{Phone: "+1", ID: user.ID}); err == nil {
		t.Error("a taken id accepted")
	}
	// POST /contacts still refuses the number.
	r := do(t, s, http.MethodPost, "/contacts", map[string]any{"role": "lead", "phone": "+15550000001"})
	mustStatus(t, r, 409)

	r = do(t, s, http.MethodPost, "/contacts/search", map[string]any{"query": map[string]any{"operator": "OR", "value": []any{
		map[string]any{"field": "phone", "operator": "=", "value": "+15550000001"},
		map[string]any{"field": "formatted_phone", "operator": "=", "value": "+15550000001"},
	}}})
	mustStatus(t, r, 200)
	data := r.obj["data"].([]any)
	if len(data) != 2 {
		t.Fatalf("search found %d contacts, want 2: %s", len(data), r.body)
	}
	got := map[string]string{}
	for _, d := range data {
		m := d.(map[string]any)
		got[m["id"].(string)] = fmt.Sprintf("%s@%.0f", m["role"], m["updated_at"])
	}
	want := map[string]string{
		user.ID: fmt.Sprintf("user@%d", old.Unix()),
		lead.ID: fmt.Sprintf("lead@%d", old.Add(time.Hour).Unix()),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("search = %v, want %v", got, want)
	}

	before := time.Now().Add(-time.Second)
	if err := s.MergeContact(lead.ID, user.ID); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.Contact(user.ID); u.UpdatedAt.Before(before) || u.Phone != "+15550000001" {
		t.Errorf("target after merge = %+v, want its own phone and a fresh UpdatedAt", u)
	}
}
