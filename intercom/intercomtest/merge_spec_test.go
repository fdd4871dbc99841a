package intercomtest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

// The answers about merged contacts, in both of the fake's modes, conform
// to the description, and the client makes of them what callers branch on.
func TestSpecConformanceMergedContacts(t *testing.T) {
	sp := loadSpec(t)
	ctx := context.Background()
	for _, status := range []int{http.StatusGone, http.StatusNotFound} {
		s := intercomtest.NewServer(intercomtest.WithMergedContactStatus(status))
		defer s.Close()
		c, rec := recordedClient(t, s)
		old := time.Now().Add(-time.Hour)
		user, _ := s.AddContact(intercomtest.Contact{Role: "user", Email: "ann@example.com", CreatedAt: old})
		lead, _ := s.AddContactSharingPhone(intercomtest.Contact{Phone: "+15551230001"})
		if err := s.MergeContact(lead.ID, user.ID); err != nil {
			t.Fatal(err)
		}
		got, err := c.Contact(ctx, lead.ID)
		switch status {
		case http.StatusGone:
			if err != nil || got.ID != user.ID || got.Email != "ann@example.com" || got.Phone != lead.Phone || !got.UpdatedAt.After(old) {
				t.Errorf("410 mode: Contact(merged) = %+v, %v; want the user, with the lead's phone and a fresh updated_at", got, err)
			}
		case http.StatusNotFound:
			if !errors.Is(err, intercom.ErrNotFound) {
				t.Errorf("404 mode: Contact(merged) err = %v, want ErrNotFound", err)
			}
			if id, ok := intercom.MergedInto(err); ok {
				t.Errorf("404 mode: MergedInto = %q", id)
			}
		}
		found, err := c.SearchContactsByPhone(ctx, "+15551230001")
		if err != nil || len(found) != 1 || found[0].ID != user.ID || found[0].Role != "user" {
			t.Errorf("search after merge = %+v, %v; want the user alone", found, err)
		}
		for _, x := range rec.exchanges() {
			for _, p := range sp.checkExchange(x, s.Token) {
				t.Errorf("mode %d: %s", status, p)
			}
		}
		// (Not checked against the description, whose createNote types the
		// contact id as an integer.)
		_, err = c.AddContactNote(ctx, lead.ID, "991", "x")
		if !errors.Is(err, intercom.ErrNotFound) {
			t.Errorf("note on a merged contact: err = %v, want ErrNotFound", err)
		}
	}
}
