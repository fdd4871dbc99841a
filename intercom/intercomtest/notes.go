package intercomtest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Paging of GET /contacts/{id}/notes: Intercom's SDKs give 15 as the
// default page size; the fake caps it at 50, the size of the API
// description's example.
const (
	contactNotesPerPage    = 15
	contactNotesMaxPerPage = 50
)

// ContactNote is a note on a contact's profile, as POST
// /contacts/{id}/notes creates it.
type ContactNote struct {
	ID        string
	ContactID string
	AdminID   string
	Body      string
	CreatedAt time.Time
}

// ContactNotes returns the notes on a contact's profile, oldest first.
func (s *Server) ContactNotes(contactID string) []ContactNote {
	s.notesMu.Lock()
	defer s.notesMu.Unlock()
	return append([]ContactNote(nil), s.contactNotes[contactID]...)
}

type wireNoteAuthor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type wireNoteContact struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type wireContactNote struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	CreatedAt int64           `json:"created_at"`
	Contact   wireNoteContact `json:"contact"`
	Author    wireNoteAuthor  `json:"author"`
	Body      string          `json:"body"`
}

type wireNotePages struct {
	Type       string    `json:"type"`
	Next       *struct{} `json:"next"`
	Page       int       `json:"page"`
	PerPage    int       `json:"per_page"`
	TotalPages int       `json:"total_pages"`
}

type wireContactNoteList struct {
	Type       string            `json:"type"`
	Data       []wireContactNote `json:"data"`
	TotalCount int               `json:"total_count"`
	Pages      wireNotePages     `json:"pages"`
}

type createNoteRequest struct {
	Body    *string `json:"body"`
	AdminID *string `json:"admin_id"`
}

// ---- POST /contacts/{id}/notes ----

func (s *Server) createContactNote(c *call, contactID string) {
	var req createNoteRequest
	if !c.decode(&req) {
		return
	}
	if req.Body == nil || strings.TrimSpace(*req.Body) == "" {
		c.fail(http.StatusBadRequest, "parameter_not_found", "body is required")
		return
	}
	s.mu.Lock()
	ct := s.contacts[contactID]
	merged := ct != nil && ct.MergedInto != ""
	s.mu.Unlock()
	now := time.Now().UTC()
	if ct == nil || merged {
		c.fail(http.StatusNotFound, "not_found", "User Not Found")
		return
	}
	s.notesMu.Lock()
	if s.contactNotes == nil {
		s.contactNotes = make(map[string][]ContactNote)
	}
	s.noteSeq++
	n := ContactNote{ID: strconv.FormatInt(s.noteSeq, 10), ContactID: contactID, AdminID: deref(req.AdminID), Body: *req.Body, CreatedAt: now}
	s.contactNotes[contactID] = append(s.contactNotes[contactID], n)
	s.notesMu.Unlock()
	c.ok(wireContactNote{
		Type: "note", ID: n.ID, CreatedAt: n.CreatedAt.Unix(),
		Contact: wireNoteContact{Type: "contact", ID: contactID},
		Author:  wireNoteAuthor{Type: "admin", ID: n.AdminID},
		Body:    n.Body,
	})
}

// ---- GET /contacts/{id}/notes ----

// listContactNotes answers a contact's notes newest first, numbered by
// page: page (from 1) and per_page, as Intercom's SDKs send them; a value
// that is not a positive number is taken as absent. pages.next is null, as
// in the API description's example, whose next has a cursor's shape that a
// list numbered by page does not fill.
func (s *Server) listContactNotes(c *call, contactID string) {
	q := c.r.URL.Query()
	positive := func(name string, def int) int {
		if n, err := strconv.Atoi(q.Get(name)); err == nil && n > 0 {
			return n
		}
		return def
	}
	page := positive("page", 1)
	per := min(positive("per_page", contactNotesPerPage), contactNotesMaxPerPage)
	s.mu.Lock()
	ct := s.contacts[contactID]
	merged := ct != nil && ct.MergedInto != ""
	s.mu.Unlock()
	if ct == nil || merged {
		c.fail(http.StatusNotFound, "not_found", "User Not Found")
		return
	}
	s.notesMu.Lock()
	all := s.contactNotes[contactID]
	total := len(all)
	out := wireContactNoteList{Type: "list", Data: []wireContactNote{}, TotalCount: total,
		Pages: wireNotePages{Type: "pages", Page: page, PerPage: per, TotalPages: max(1, (total+per-1)/per)}}
	// Stored oldest first; the i-th newest is all[total-1-i].
	for i := (page - 1) * per; i < page*per && i < total; i++ {
		n := all[total-1-i]
		out.Data = append(out.Data, wireContactNote{
			Type: "note", ID: n.ID, CreatedAt: n.CreatedAt.Unix(),
			Contact: wireNoteContact{Type: "contact", ID: contactID},
			Author:  wireNoteAuthor{Type: "admin", ID: n.AdminID},
			Body:    n.Body,
		})
	}
	s.notesMu.Unlock()
	c.ok(out)
}
