package intercom_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
)

// A search by phone can find several contacts; PreferredContact picks the
// one to act as.
func ExamplePreferredContact() {
	t := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	found := []intercom.Contact{
		{ID: "lead-new", Role: "lead", UpdatedAt: t.Add(time.Hour)},
		{ID: "user-old", Role: "user", UpdatedAt: t.Add(-24 * time.Hour)},
		{ID: "user-new", Role: "user", UpdatedAt: t},
	}
	c, ok := intercom.PreferredContact(found)
	fmt.Println(c.ID, ok)
	// Output: user-new true
}

// A call that names a merged contact fails with 410 contact_merged and a
// Link to the contact it was merged into; MergedInto reads it.
func ExampleMergedInto() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Link", `</contacts/6762f0dd1bb69f9f2193bb83>; rel="canonical"`)
		w.WriteHeader(http.StatusGone)
		io.WriteString(w, `{"type":"error.list","errors":[{"code":"contact_merged","message":"This contact has been merged. See the 'Link' header for the canonical contact."}]}`)
	}))
	defer srv.Close()
	client, err := intercom.NewClient("access-token", intercom.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.AddContactNote(context.Background(), "6762f0dd1bb69f9f2193bb80", "991", "Texted the customer")
	if into, ok := intercom.MergedInto(err); ok {
		fmt.Println("merged into", into)
		// Store into instead of the old id, and note it instead.
	}
	// Output: merged into 6762f0dd1bb69f9f2193bb83
}
