package intercomtest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

// TestMergeSpecConformance runs the merge and the search by email, with
// every answer the fake gives them, and checks each exchange against
// Intercom's OpenAPI description.
func TestMergeSpecConformance(t *testing.T) {
	sp := loadSpec(t)
	ctx := context.Background()
	s := intercomtest.NewServer()
	defer s.Close()
	c, rec := recordedClient(t, s)
	add := func(ct intercomtest.Contact) intercomtest.Contact {
		t.Helper()
		out, err := s.AddContact(ct)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	old := time.Now().Add(-48 * time.Hour)
	user := add(intercomtest.Contact{Role: "user", Email: "ann@example.com", Name: "Ann", CreatedAt: old})
	twin := add(intercomtest.Contact{Role: "user", Email: "ann2@example.com", Name: "Ann again", CreatedAt: old})
	lead := add(intercomtest.Contact{Role: "lead", Phone: "+15551230001", CreatedAt: old})
	leadWithEmail := add(intercomtest.Contact{Role: "lead", Email: "lee@example.com", CreatedAt: old})

	found, err := c.SearchContactsByEmail(ctx, "ann@example.com")
	if err != nil {
		t.Fatalf("SearchContactsByEmail: %v", err)
	}
	if len(found) != 1 || found[0].ID != user.ID || found[0].Email != "ann@example.com" || found[0].Role != "user" || found[0].UpdatedAt.IsZero() {
		t.Errorf("search by email = %+v, want the user with email and updated_at", found)
	}
	if found, err := c.SearchContactsByEmail(ctx, "nobody@example.com"); err != nil || len(found) != 0 {
		t.Errorf("search for an unknown email = %+v, %v; want nothing", found, err)
	}

	// Refusals: not duplicates, roles, unknown ids.
	if _, err := c.MergeContacts(ctx, lead.ID, user.ID); !intercom.IsInvalidMerge(err) {
		t.Errorf("merging non-duplicates: err = %v, want invalid_merge", err)
	} else if !slices.ContainsFunc(apiErrors(err), func(i intercom.ErrorItem) bool { return i.Code == "invalid_merge" }) {
		t.Errorf("merging non-duplicates: error items %+v, want code invalid_merge", apiErrors(err))
	}
	if _, err := c.MergeContactsSkippingValidation(ctx, user.ID, twin.ID); !intercom.IsInvalidMerge(err) {
		t.Errorf("merging a user: err = %v, want a 400", err)
	}
	if _, err := c.MergeContactsSkippingValidation(ctx, lead.ID, leadWithEmail.ID); !intercom.IsInvalidMerge(err) {
		t.Errorf("merging into a lead: err = %v, want a 400", err)
	}
	if _, err := c.MergeContactsSkippingValidation(ctx, "0123456789abcdef01234567", user.ID); !errors.Is(err, intercom.ErrNotFound) {
		t.Errorf("merging an unknown lead: err = %v, want 404", err)
	}
	if _, err := c.MergeContacts(ctx, lead.ID, lead.ID); err == nil {
		t.Error("merging a contact into itself: no error")
	}

	// A lead known by its phone only merges into a user known by email
	// only when the check is skipped.
	conv, err := s.StartConversation(lead.ID, "hello")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.MergeContactsSkippingValidation(ctx, lead.ID, user.ID)
	if err != nil {
		t.Fatalf("merging with the check skipped: %v", err)
	}
	if got.ID != user.ID || got.Role != "user" || got.Email != user.Email {
		t.Errorf("merge answered %+v, want the user", got)
	}
	if cv, _ := s.Conversation(conv.ID); !slices.Equal(cv.ContactIDs, []string{user.ID}) {
		t.Errorf("the lead's conversation belongs to %v after the merge, want the user", cv.ContactIDs)
	}
	if canon, err := c.Contact(ctx, lead.ID); err != nil || canon.ID != user.ID {
		t.Errorf("the merged lead resolves to %+v, %v; want the user", canon, err)
	}
	if _, err := c.MergeContactsSkippingValidation(ctx, lead.ID, user.ID); !errors.Is(err, intercom.ErrNotFound) {
		t.Errorf("merging a lead again: err = %v, want 404", err)
	}

	ops := map[string]bool{}
	for _, x := range rec.exchanges() {
		for _, p := range sp.checkExchange(x, s.Token) {
			t.Error(p)
		}
		if o, _ := sp.find(x.method, x.path); o != nil {
			ops[fmt.Sprintf("%s %d", o.op["operationId"], x.status)] = true
		}
	}
	for _, want := range []string{"MergeContact 200", "MergeContact 400", "MergeContact 404", "SearchContacts 200"} {
		if !ops[want] {
			t.Errorf("the run did not exercise %s", want)
		}
	}
}

func apiErrors(err error) []intercom.ErrorItem {
	var ie *intercom.Error
	if errors.As(err, &ie) {
		return ie.Errors
	}
	return nil
}
