package intercom

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

const mergedUser = `{"type":"contact","id":"6762f0d51bb69f9f2193bb80","role":"user","email":"joe@bloggs.com","phone":null,"name":"Joe Bloggs","external_id":"70","created_at":1734537429,"updated_at":1734537430}`

func TestMergeContactsRequestAndAnswer(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeRaw(w, 200, mergedUser) })
	c := newTestClient(t, srv)
	ctx := context.Background()
	got, err := c.MergeContacts(ctx, "6762f0d51bb69f9f2193bb7f", "6762f0d51bb69f9f2193bb80")
	if err != nil {
		t.Fatal(err)
	}
	want := Contact{ID: "6762f0d51bb69f9f2193bb80", Role: "user", Email: "joe@bloggs.com", Name: "Joe Bloggs", ExternalID: "70", UpdatedAt: time.Unix(1734537430, 0).UTC()}
	if *got != want {
		t.Errorf("merge = %+v, want %+v", *got, want)
	}
	if _, err := c.MergeContactsSkippingValidation(ctx, "6762f0d51bb69f9f2193bb7f", "6762f0d51bb69f9f2193bb80"); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 || reqs[0].Method != "POST" || reqs[0].Path != "/contacts/merge" {
		t.Fatalf("requests = %+v", reqs)
	}
	assertJSON(t, reqs[0].Body, `{"from":"6762f0d51bb69f9f2193bb7f","into":"6762f0d51bb69f9f2193bb80"}`)
	assertJSON(t, reqs[1].Body, `{"from":"6762f0d51bb69f9f2193bb7f","into":"6762f0d51bb69f9f2193bb80","skip_duplicate_validation":true}`)
}

func TestMergeContactsArguments(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { writeRaw(w, 200, mergedUser) })
	c := newTestClient(t, srv)
	for _, tc := range []struct{ from, into string }{{"", "b"}, {"a", ""}, {"a/b", "c"}, {"a", "a"}, {" ", "b"}} {
		if _, err := c.MergeContacts(context.Background(), tc.from, tc.into); err == nil {
			t.Errorf("MergeContacts(%q, %q): no error", tc.from, tc.into)
		}
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid arguments", n)
	}
}

// A merge whose answer was lost is not repeated: it may have happened.
func TestMergeContactsNotRetriedWhenAmbiguous(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 502, errorBody("server_error", "bad gateway"))
	})
	c := newTestClient(t, srv)
	_, err := c.MergeContacts(context.Background(), "6762f0d51bb69f9f2193bb7f", "6762f0d51bb69f9f2193bb80")
	if err == nil || !IsAmbiguous(err) {
		t.Fatalf("err = %v, want an ambiguous failure", err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("%d requests, want 1 (a merge is not repeated after an ambiguous answer)", n)
	}
}

func TestMergeContactsRefused(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 400, errorBody("invalid_merge", "Contacts can only be merged when they are duplicates (matching email or phone)."))
	})
	c := newTestClient(t, srv)
	_, err := c.MergeContacts(context.Background(), "6762f0d51bb69f9f2193bb7f", "6762f0d51bb69f9f2193bb80")
	if !IsInvalidMerge(err) {
		t.Fatalf("err = %v, want IsInvalidMerge", err)
	}
	if IsInvalidMerge(errors.New("other")) || IsInvalidMerge(nil) {
		t.Error("IsInvalidMerge of a non-API error")
	}
}

func TestSearchContactsByEmail(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"list","data":[`+mergedUser+`],"total_count":1}`)
	})
	c := newTestClient(t, srv)
	got, err := c.SearchContactsByEmail(context.Background(), " joe@bloggs.com ")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Email != "joe@bloggs.com" || got[0].UpdatedAt.Unix() != 1734537430 {
		t.Errorf("search = %+v", got)
	}
	reqs := srv.requests()
	assertJSON(t, reqs[0].Body, `{"query":{"operator":"AND","value":[{"field":"email","operator":"=","value":"joe@bloggs.com"}]},"pagination":{"per_page":50}}`)
	for _, bad := range []string{"", "  ", "Joe <joe@bloggs.com>", "not an address", strings.Repeat("a", 250) + "@b.com"} {
		if _, err := c.SearchContactsByEmail(context.Background(), bad); err == nil {
			t.Errorf("SearchContactsByEmail(%q): no error", bad)
		}
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}
