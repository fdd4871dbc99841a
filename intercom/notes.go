package intercom

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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
	n := out.note()
	return &n, nil
}

// Paging of [Client.ContactNotes].
const (
	// contactNotesPerPage is the page size asked for; Intercom may answer
	// with fewer, which the paging follows.
	contactNotesPerPage = 50
	// contactNotesMaxPages bounds the pages one call reads.
	contactNotesMaxPages = 10
)

// wireContactNoteList is the answer of GET /contacts/{id}/notes: schema
// note_list. Its pages.next is left alone: the list is numbered by page,
// and the description gives next a cursor's shape.
type wireContactNoteList struct {
	Type       string            `json:"type"`
	Data       []wireContactNote `json:"data"`
	TotalCount *int              `json:"total_count"`
	Pages      *struct {
		Page       int `json:"page"`
		PerPage    int `json:"per_page"`
		TotalPages int `json:"total_pages"`
	} `json:"pages"`
}

func (w wireContactNote) note() ContactNote {
	n := ContactNote{ID: w.ID, ContactID: w.Contact.ID, AuthorID: w.Author.ID, Body: w.Body}
	if w.CreatedAt > 0 {
		n.CreatedAt = time.Unix(w.CreatedAt, 0).UTC()
	}
	return n
}

// ContactNotes returns the notes on contact contactID created since since,
// newest first (GET /contacts/{id}/notes). since is compared in whole
// seconds, as Intercom stores created_at: a note created during the second
// of since is included, and so is a note without a time.
//
// Intercom lists a contact's notes newest first, numbered by page. The API
// description lists no query parameters for it; the client asks for pages
// with page and per_page, the parameters Intercom's own SDKs send, and
// follows the answer's pages.page and pages.total_pages (an answer for
// another page than the one asked for is an error, not a loop). It stops at
// the first note older than since while the list is newest first, and
// reads at most 10 pages of 50: a contact with more notes since since gets
// an error matching [ErrTooManyResults] rather than a list that may lack
// some; narrow since. A note listed on two pages (one added meanwhile
// shifts the pages) is returned once.
//
// Its use is to look before repeating an [Client.AddContactNote] that
// failed ambiguously ([IsAmbiguous]): list from a little before the first
// attempt (Intercom stamps created_at with its own clock) and match the
// body. It is a read, retried after any transient failure.
func (c *Client) ContactNotes(ctx context.Context, contactID string, since time.Time) ([]ContactNote, error) {
	p, err := pathID("contact id", contactID)
	if err != nil {
		return nil, fmt.Errorf("intercom: ContactNotes: %w", err)
	}
	if since.IsZero() {
		return nil, errors.New("intercom: ContactNotes: zero since")
	}
	secs := since.Unix()
	if secs < 1 {
		return nil, fmt.Errorf("intercom: ContactNotes: since %v is not after the UNIX epoch", since)
	}
	floor := time.Unix(secs, 0)
	path := "/contacts/" + p + "/notes"
	var notes []ContactNote
	seen := make(map[string]bool)
	newestFirst := true
	var prev time.Time
	for page := 1; ; page++ {
		if page > contactNotesMaxPages {
			return nil, fmt.Errorf("intercom: GET %s: more than %d pages of notes since %d; narrow since: %w",
				path, contactNotesMaxPages, secs, ErrTooManyResults)
		}
		q := url.Values{"page": {strconv.Itoa(page)}, "per_page": {strconv.Itoa(contactNotesPerPage)}}
		var out wireContactNoteList
		if _, err := c.do(ctx, call{method: http.MethodGet, path: path, query: q, out: &out}); err != nil {
			return nil, err
		}
		if out.Pages != nil && out.Pages.Page != 0 && out.Pages.Page != page {
			return nil, fmt.Errorf("intercom: GET %s: asked for page %d, the answer is page %d", path, page, out.Pages.Page)
		}
		older := false
		for i, w := range out.Data {
			if w.ID == "" {
				return nil, fmt.Errorf("intercom: GET %s: note %d of page %d carries no id", path, i, page)
			}
			n := w.note()
			if !n.CreatedAt.IsZero() {
				if !prev.IsZero() && n.CreatedAt.After(prev) {
					newestFirst = false
				}
				prev = n.CreatedAt
			}
			if !n.CreatedAt.IsZero() && n.CreatedAt.Before(floor) {
				older = true
				continue
			}
			if !seen[n.ID] {
				seen[n.ID] = true
				notes = append(notes, n)
			}
		}
		if lastNotesPage(out, page) || older && newestFirst {
			break
		}
	}
	slices.SortStableFunc(notes, func(a, b ContactNote) int {
		if d := b.CreatedAt.Compare(a.CreatedAt); d != 0 {
			return d
		}
		return compareIDs(b.ID, a.ID)
	})
	return notes, nil
}

// lastNotesPage reports whether out, the answer for page, is the last page
// of a contact's notes: by its pages.total_pages, else its total_count,
// else by being short.
func lastNotesPage(out wireContactNoteList, page int) bool {
	switch {
	case len(out.Data) == 0:
		return true
	case out.Pages != nil && out.Pages.TotalPages > 0:
		return page >= out.Pages.TotalPages
	case out.TotalCount != nil:
		per := contactNotesPerPage
		if out.Pages != nil && out.Pages.PerPage > 0 {
			per = out.Pages.PerPage
		}
		return page*per >= *out.TotalCount
	}
	return len(out.Data) < contactNotesPerPage
}
