package intercomtest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

// TestContactNotesSpecConformance lists a contact's notes with the client
// against the fake, over several pages, with its error answers, and checks
// every exchange against Intercom's OpenAPI description.
func TestContactNotesSpecConformance(t *testing.T) {
	sp := loadSpec(t)
	ctx := context.Background()
	s := intercomtest.NewServer()
	defer s.Close()
	c, rec := recordedClient(t, s, intercom.WithRetry(intercom.RetryPolicy{MaxAttempts: 1}))
	hc := &http.Client{Transport: rec, Timeout: 10 * time.Second} // raw requests, recorded too
	// Notes are made through a client whose exchanges are not checked: the
	// description's createNote types the contact id as an integer.
	maker, err := intercom.NewClient(s.Token, intercom.WithBaseURL(s.URL), intercom.WithHTTPClient(s.Client()))
	if err != nil {
		t.Fatal(err)
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	lead, err := s.AddContact(intercomtest.Contact{Role: "lead", Phone: "+15551230001"})
	must("AddContact", err)
	user, err := s.AddContact(intercomtest.Contact{Role: "user", Phone: "+15551230002"})
	must("AddContact", err)
	since := time.Now().Add(-time.Minute)

	empty, err := c.ContactNotes(ctx, lead.ID, since)
	must("ContactNotes (none)", err)
	if len(empty) != 0 {
		t.Errorf("notes of a new contact: %+v", empty)
	}
	// More than a page of the client's 50.
	const n = 57
	for i := range n {
		_, err := maker.AddContactNote(ctx, lead.ID, "991267001", fmt.Sprintf("<p>note %d</p>", i))
		must("AddContactNote", err)
	}
	notes, err := c.ContactNotes(ctx, lead.ID, since)
	must("ContactNotes", err)
	if len(notes) != n {
		t.Fatalf("%d notes, want %d", len(notes), n)
	}
	for i, got := range notes {
		if want := fmt.Sprintf("<p>note %d</p>", n-1-i); got.Body != want || got.ContactID != lead.ID || got.AuthorID != "991267001" || got.CreatedAt.IsZero() {
			t.Errorf("note %d = %+v, want body %q", i, got, want)
		}
	}
	// Notes made before since are not listed: here, all of them.
	later, err := c.ContactNotes(ctx, lead.ID, time.Now().Add(time.Hour))
	must("ContactNotes (later)", err)
	if len(later) != 0 {
		t.Errorf("notes since an hour ahead: %d", len(later))
	}

	// Unknown and merged contacts: 404, as for creating a note.
	if _, err := c.ContactNotes(ctx, "0123456789abcdef01234567", since); !errors.Is(err, intercom.ErrNotFound) {
		t.Errorf("unknown contact: %v, want ErrNotFound", err)
	}
	must("MergeContact", s.MergeContact(lead.ID, user.ID))
	if _, err := c.ContactNotes(ctx, lead.ID, since); !errors.Is(err, intercom.ErrNotFound) {
		t.Errorf("merged contact: %v, want ErrNotFound", err)
	}

	// Raw requests: no token; the fake's defaults for page and per_page.
	raw := func(path string, authenticated bool) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		if authenticated {
			req.Header.Set("Authorization", "Bearer "+s.Token)
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Intercom-Version", "2.16")
		resp, err := hc.Do(req)
		must("GET "+path, err)
		resp.Body.Close()
	}
	raw("/contacts/"+user.ID+"/notes", false)
	raw("/contacts/"+user.ID+"/notes", true)
	raw("/contacts/"+user.ID+"/notes?page=x&per_page=-1", true)

	ops := map[string]bool{}
	pages := 0
	for _, x := range rec.exchanges() {
		for _, p := range sp.checkExchange(x, s.Token) {
			t.Error(p)
		}
		if o, _ := sp.find(x.method, x.path); o != nil {
			ops[fmt.Sprintf("%s %d", o.op["operationId"], x.status)] = true
		}
		if x.method == http.MethodGet && strings.HasSuffix(x.path, "/notes") && x.status == 200 {
			pages++
		}
	}
	for _, want := range []string{"listNotes 200", "listNotes 404", "listNotes 401"} {
		if !ops[want] {
			t.Errorf("the run did not exercise %s", want)
		}
	}
	// One page for none, two for 57, one for none since later, two raw.
	if pages != 6 {
		t.Errorf("%d pages answered, want 6", pages)
	}
}
