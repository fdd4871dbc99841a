package intercom_test

import (
	"context"
	"errors"
	"testing"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

func TestAddContactNote(t *testing.T) {
	t.Parallel()
	srv := intercomtest.NewServer()
	t.Cleanup(srv.Close)
	c, err := intercom.NewClient(srv.Token, intercom.WithBaseURL(srv.URL), intercom.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ct, err := c.CreateContact(ctx, intercom.ContactCreate{Role: "lead", Phone: "+14155550123"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.AddContactNote(ctx, ct.ID, "991267001", "<p>We texted: hello</p>")
	if err != nil {
		t.Fatal(err)
	}
	if n.ID == "" || n.ContactID != ct.ID || n.AuthorID != "991267001" || n.Body != "<p>We texted: hello</p>" || n.CreatedAt.IsZero() {
		t.Errorf("note = %+v", n)
	}
	if got := srv.ContactNotes(ct.ID); len(got) != 1 || got[0].Body != n.Body || got[0].AdminID != "991267001" {
		t.Errorf("server holds %+v", got)
	}
	var apiErr *intercom.Error
	if _, err := c.AddContactNote(ctx, "nope", "991267001", "x"); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("note on a missing contact: %v, want a 404", err)
	}
	for _, args := range [][3]string{{"", "1", "x"}, {ct.ID, "", "x"}, {ct.ID, "1", " "}} {
		if _, err := c.AddContactNote(ctx, args[0], args[1], args[2]); err == nil {
			t.Errorf("AddContactNote%q: no error", args)
		}
	}
}
