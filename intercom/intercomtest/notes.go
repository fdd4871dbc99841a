package intercomtest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
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
