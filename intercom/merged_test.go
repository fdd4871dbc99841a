package intercom

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A search answer's email and updated_at reach the Contact.
func TestSearchContactsEmailAndUpdatedAt(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"list","data":[
			{"type":"contact","id":"a1","role":"user","email":"ann@example.com","phone":"+15551234567","updated_at":1734537424},
			{"type":"contact","id":"b2","role":"lead","email":null,"phone":"+15551234567","updated_at":null},
			{"type":"contact","id":"c3","role":"lead","email":"","phone":"+15551234567","updated_at":"1734537425"}],
			"total_count":3,"pages":{"type":"pages","page":1,"per_page":50,"total_pages":1}}`)
	})
	got, err := newTestClient(t, srv).SearchContactsByPhone(context.Background(), "+15551234567")
	if err != nil {
		t.Fatal(err)
	}
	want := []Contact{
		{ID: "a1", Role: "user", Phone: "+15551234567", Email: "ann@example.com", UpdatedAt: time.Unix(1734537424, 0).UTC()},
		{ID: "b2", Role: "lead", Phone: "+15551234567"},
		{ID: "c3", Role: "lead", Phone: "+15551234567", UpdatedAt: time.Unix(1734537425, 0).UTC()},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestMergedInto(t *testing.T) {
	link := func(id string) http.Header {
		h := http.Header{}
		h.Set("Link", `</contacts/`+id+`>; rel="canonical"`)
		return h
	}
	for _, tc := range []struct {
		name   string
		status int
		body   string
		header http.Header
		want   string // "" = not merged
	}{
		{"410 contact_merged with link", 410, errorBody("contact_merged", "merged"), link("6762f0dd1bb69f9f2193bb83"), "6762f0dd1bb69f9f2193bb83"},
		{"410 without body, with link", 410, "", link("abc"), "abc"},
		{"410 without link", 410, errorBody("contact_merged", "merged"), nil, ""},
		{"410 with another code", 410, errorBody("gone", "gone"), link("abc"), ""},
		{"404 with link", 404, errorBody("not_found", "User Not Found"), link("abc"), ""},
		{"200 with link", 200, `{"type":"contact","id":"x"}`, link("abc"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				for k, v := range tc.header {
					w.Header()[k] = v
				}
				writeRaw(w, tc.status, tc.body)
			})
			// A call other than GET /contacts/{id}, which would follow
			// the link itself.
			_, err := newTestClient(t, srv).AddContactNote(context.Background(), "old", "1", "note")
			got, ok := MergedInto(err)
			if ok != (tc.want != "") || got != tc.want {
				t.Errorf("MergedInto(%v) = %q, %v; want %q", err, got, ok, tc.want)
			}
			if tc.want != "" && !errors.Is(err, ErrGone) {
				t.Errorf("err = %v, want it to match ErrGone", err)
			}
		})
	}
	if id, ok := MergedInto(nil); ok || id != "" {
		t.Errorf("MergedInto(nil) = %q, %v", id, ok)
	}
	if id, ok := MergedInto(fmt.Errorf("wrapped: %w", &Error{StatusCode: 410, CanonicalContactID: "z"})); !ok || id != "z" {
		t.Errorf("MergedInto(wrapped) = %q, %v", id, ok)
	}
}

// FuzzCanonicalContact: the Link header is outside input; whatever it
// holds, the parser neither panics nor returns an id that could name
// another path.
func FuzzCanonicalContact(f *testing.F) {
	for _, s := range []string{
		`</contacts/abc>; rel="canonical"`,
		`<https://api.intercom.io/contacts/abc?x=1>; rel=canonical`,
		`</contacts/abc>; rel="next", </contacts/def>; rel="canonical"`,
		`</contacts/a/b>; rel="canonical"`,
		`<>; rel="canonical"`,
		`;;,,<`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{}
		h.Set("Link", v)
		id, ok := canonicalContact(h)
		if ok != (id != "") {
			t.Fatalf("canonicalContact(%q) = %q, %v", v, id, ok)
		}
		if strings.ContainsAny(id, "/?#") {
			t.Fatalf("canonicalContact(%q) = %q: not a bare id", v, id)
		}
	})
}
