package intercom_test

import (
	"context"
	"fmt"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

// Finding the user who owns an email address and merging a lead into them.
func ExampleClient_MergeContacts() {
	s := intercomtest.NewServer()
	defer s.Close()
	ctx := context.Background()
	c, _ := intercom.NewClient(s.Token, intercom.WithBaseURL(s.URL))
	old := time.Now().Add(-time.Hour) // the fake's search, like Intercom's, lags behind new contacts
	s.AddContact(intercomtest.Contact{Role: "user", Name: "Ann Lee", Email: "ann@example.com", CreatedAt: old})
	lead, _ := s.AddContact(intercomtest.Contact{Role: "lead", Phone: "+14155550123", CreatedAt: old})

	found, err := c.SearchContactsByEmail(ctx, "ann@example.com")
	if err != nil || len(found) != 1 {
		fmt.Println(found, err)
		return
	}
	user := found[0]
	// A lead known by its phone and a user known by email are no
	// duplicates: Intercom refuses unless the check is skipped.
	_, err = c.MergeContacts(ctx, lead.ID, user.ID)
	fmt.Println("refused:", intercom.IsInvalidMerge(err))
	merged, err := c.MergeContactsSkippingValidation(ctx, lead.ID, user.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("merged into", merged.Name, merged.Email)
	canonical, _ := c.Contact(ctx, lead.ID)
	fmt.Println("the lead now resolves to the user:", canonical.ID == user.ID)
	// Output:
	// refused: true
	// merged into Ann Lee ann@example.com
	// the lead now resolves to the user: true
}
