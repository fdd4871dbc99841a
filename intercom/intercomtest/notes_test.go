package intercomtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// The fake pages a contact's notes newest first by page and per_page,
// with 15 per page unless asked and at most 50.
func TestListContactNotesPaging(t *testing.T) {
	s := newTestServer(t)
	ct, err := s.AddContact(Contact{Role: "lead", Phone: "+15551230003"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		mustStatus(t, do(t, s, http.MethodPost, "/contacts/"+ct.ID+"/notes", map[string]string{"body": fmt.Sprintf("n%d", i), "admin_id": "991"}), 200)
	}
	for _, tc := range []struct {
		query             string
		first, count, per int
		totalPages        int
	}{
		{"", 59, 15, 15, 4},
		{"?page=2&per_page=20", 39, 20, 20, 3},
		{"?page=2&per_page=500", 9, 10, 50, 2},
		{"?page=0&per_page=abc", 59, 15, 15, 4},
		{"?page=9", 0, 0, 15, 4},
	} {
		r := do(t, s, http.MethodGet, "/contacts/"+ct.ID+"/notes"+tc.query, nil)
		mustStatus(t, r, 200)
		var out struct {
			Type       string `json:"type"`
			TotalCount int    `json:"total_count"`
			Data       []struct {
				ID   string `json:"id"`
				Body string `json:"body"`
			} `json:"data"`
			Pages struct {
				Page       int `json:"page"`
				PerPage    int `json:"per_page"`
				TotalPages int `json:"total_pages"`
			} `json:"pages"`
		}
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		if out.Type != "list" || out.TotalCount != 60 || len(out.Data) != tc.count || out.Pages.PerPage != tc.per || out.Pages.TotalPages != tc.totalPages {
			t.Errorf("%q: %+v", tc.query, out)
			continue
		}
		if tc.count > 0 && out.Data[0].Body != fmt.Sprintf("n%d", tc.first) {
			t.Errorf("%q: first note %q, want n%d", tc.query, out.Data[0].Body, tc.first)
		}
	}
	mustStatus(t, do(t, s, http.MethodGet, "/contacts/nobody/notes", nil), 404)
}
