package intercom

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// notesPage renders a note_list page of notes (id, created_at) of contact
// "c1", with pages.page, per_page and total_pages.
func notesPage(page, per, totalPages, total int, notes ...[2]int64) string {
	var b strings.Builder
	for i, n := range notes {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"type":"note","id":"%d","created_at":%d,"contact":{"type":"contact","id":"c1"},"author":{"type":"admin","id":"991"},"body":"<p>n%d</p>"}`, n[0], n[1], n[0])
	}
	return fmt.Sprintf(`{"type":"list","data":[%s],"total_count":%d,"pages":{"type":"pages","next":null,"page":%d,"per_page":%d,"total_pages":%d}}`,
		b.String(), total, page, per, totalPages)
}

// ContactNotes pages with page and per_page, newest first, and stops at the
// first note older than since: the third page is never asked for.
func TestContactNotesPagesUntilSince(t *testing.T) {
	const base = 1734537000
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Query().Get("page") {
		case "1":
			writeRaw(w, 200, notesPage(1, 2, 3, 6, [2]int64{6, base + 60}, [2]int64{5, base + 50}))
		case "2":
			// Note 5 again: a note added between the pages shifted them.
			writeRaw(w, 200, notesPage(2, 2, 3, 6, [2]int64{5, base + 50}, [2]int64{4, base + 40}, [2]int64{3, base + 9}))
		default:
			writeRaw(w, 200, notesPage(3, 2, 3, 6, [2]int64{2, base}, [2]int64{1, base - 10}))
		}
	})
	c := newTestClient(t, srv)
	notes, err := c.ContactNotes(context.Background(), "c1", time.Unix(base+40, 900e6))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range notes {
		ids = append(ids, n.ID)
		if n.ContactID != "c1" || n.AuthorID != "991" || n.Body != "<p>n"+n.ID+"</p>" || n.CreatedAt.IsZero() {
			t.Errorf("note %+v", n)
		}
	}
	// Note 4 was created during the second of since.
	if strings.Join(ids, ",") != "6,5,4" {
		t.Errorf("notes %v, want 6,5,4", ids)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2: %+v", len(reqs), reqs)
	}
	for i, r := range reqs {
		if r.Method != http.MethodGet || r.Path != "/contacts/c1/notes" || r.Query != "page="+strconv.Itoa(i+1)+"&per_page=50" || len(r.Body) != 0 {
			t.Errorf("request %d: %s %s?%s %q", i, r.Method, r.Path, r.Query, r.Body)
		}
	}
}

// A list that is not newest first is read to its last page, and returned
// newest first.
func TestContactNotesUnorderedReadsAll(t *testing.T) {
	const base = 1734537000
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Query().Get("page") == "1" {
			writeRaw(w, 200, notesPage(1, 2, 2, 4, [2]int64{1, base - 10}, [2]int64{2, base + 10}))
			return
		}
		writeRaw(w, 200, notesPage(2, 2, 2, 4, [2]int64{3, base - 5}, [2]int64{4, base + 20}))
	})
	notes, err := newTestClient(t, srv).ContactNotes(context.Background(), "c1", time.Unix(base, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 || notes[0].ID != "4" || notes[1].ID != "2" || len(srv.requests()) != 2 {
		t.Errorf("notes %+v after %d requests, want 4 then 2 after 2", notes, len(srv.requests()))
	}
}

// Without pages, the total count ends the paging; without either, a short
// page does.
func TestContactNotesLastPageWithoutPages(t *testing.T) {
	for name, body := range map[string]string{
		"total_count": `{"type":"list","data":[{"type":"note","id":"1","created_at":1734537000,"body":"x"}],"total_count":1}`,
		"short page":  `{"type":"list","data":[{"type":"note","id":"1","created_at":1734537000,"body":"x"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeRaw(w, 200, body) })
			notes, err := newTestClient(t, srv).ContactNotes(context.Background(), "c1", time.Unix(1, 0))
			if err != nil || len(notes) != 1 || len(srv.requests()) != 1 {
				t.Errorf("notes %+v, err %v, after %d requests", notes, err, len(srv.requests()))
			}
		})
	}
}

// More pages than the bound: an error matching ErrTooManyResults, after
// the bound's requests, not a partial list.
func TestContactNotesBounded(t *testing.T) {
	now := time.Now().Unix()
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		writeRaw(w, 200, notesPage(page, 50, 100, 5000, [2]int64{int64(10000 - page), now}))
	})
	notes, err := newTestClient(t, srv).ContactNotes(context.Background(), "c1", time.Unix(now-60, 0))
	if !errors.Is(err, ErrTooManyResults) || notes != nil {
		t.Errorf("notes %+v, err %v, want ErrTooManyResults", notes, err)
	}
	if n := len(srv.requests()); n != contactNotesMaxPages {
		t.Errorf("%d requests, want %d", n, contactNotesMaxPages)
	}
}

// An answer for another page (a server ignoring page) is an error, not an
// endless loop; a note without an id is an error.
func TestContactNotesBadAnswers(t *testing.T) {
	for name, body := range map[string]string{
		"page ignored": notesPage(1, 1, 3, 3, [2]int64{3, 1734537000}),
		"no id":        `{"type":"list","data":[{"type":"note","id":"","created_at":1734537000,"body":"x"}],"total_count":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeRaw(w, 200, body) })
			if notes, err := newTestClient(t, srv).ContactNotes(context.Background(), "c1", time.Unix(1, 0)); err == nil {
				t.Errorf("notes %+v, no error", notes)
			}
			if n := len(srv.requests()); n > 2 {
				t.Errorf("%d requests", n)
			}
		})
	}
}

// Bad arguments are refused before any request; an API error is typed.
func TestContactNotesArguments(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 404, errorBody("not_found", "User Not Found"))
	})
	c := newTestClient(t, srv)
	ctx := context.Background()
	for _, tc := range []struct {
		id    string
		since time.Time
	}{{"", time.Unix(5, 0)}, {" ", time.Unix(5, 0)}, {"a/b", time.Unix(5, 0)}, {"c1", time.Time{}}, {"c1", time.Unix(0, 0)}} {
		if _, err := c.ContactNotes(ctx, tc.id, tc.since); err == nil {
			t.Errorf("ContactNotes(%q, %v): no error", tc.id, tc.since)
		}
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests for bad arguments", n)
	}
	var ie *Error
	if _, err := c.ContactNotes(ctx, "nope", time.Unix(5, 0)); !errors.Is(err, ErrNotFound) || !errors.As(err, &ie) || ie.StatusCode != 404 {
		t.Errorf("unknown contact: %v, want a 404", err)
	}
}
