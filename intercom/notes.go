package intercom

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ContactNote is a note on a contact, shown in the contact's profile (not
// in a conversation).
type ContactNote struct {
	ID        string
	ContactID string
	AuthorID  string // the admin who wrote it
	Body      string // HTML
	CreatedAt time.Time
}

type contactNoteRequest struct {
	Body    string `json:"body"`
	AdminID string `json:"admin_id,omitempty"`
}

type wireContactNote struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	CreatedAt int64  `json:"created_at"`
	Contact   struct {
		ID string `json:"id"`
	} `json:"contact"`
	Author struct {
		ID string `json:"id"`
	} `json:"author"`
	Body string `json:"body"`
}

// AddContactNote adds a note to a contact's profile as the given admin
// (POST /contacts/{id}/notes). The body may use simple HTML. Like every
// request that creates something, it is retried only after failures that
// show Intercom did not act on it.
func (c *Client) AddContactNote(ctx context.Context, contactID, adminID, body string) (*ContactNote, error) {
	p, err := pathID("contact id", contactID)
	if err != nil {
		return nil, fmt.Errorf("intercom: AddContactNote: %w", err)
	}
	if strings.TrimSpace(adminID) == "" {
		return nil, errors.New("intercom: AddContactNote: empty admin id")
	}
	if strings.TrimSpace(body) == "" {
		return nil, errors.New("intercom: AddContactNote: empty body")
	}
	var out wireContactNote
	if _, err := c.do(ctx, call{method: http.MethodPost, path: "/contacts/" + p + "/notes",
		in: contactNoteRequest{Body: body, AdminID: adminID}, out: &out, creates: true}); err != nil {
		return nil, err
	}
	if out.ID == "" {
		return nil, fmt.Errorf("intercom: POST /contacts/%s/notes: answer carries no note id", p)
	}
	n := &ContactNote{ID: out.ID, ContactID: out.Contact.ID, AuthorID: out.Author.ID, Body: out.Body}
	if out.CreatedAt > 0 {
		n.CreatedAt = time.Unix(out.CreatedAt, 0).UTC()
	}
	return n, nil
}
