package intercom_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

func TestContactUpdateArgumentsAreChecked(t *testing.T) {
	t.Parallel()
	srv := intercomtest.NewServer()
	t.Cleanup(srv.Close)
	c, err := intercom.NewClient(srv.Token, intercom.WithBaseURL(srv.URL), intercom.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var nilCtx context.Context // a caller's mistake: an error, not a panic
	const id = "6762f0dd1bb69f9f2193bb83"
	set := func(name string) intercom.ContactUpdate {
		return intercom.ContactUpdate{CustomAttributes: map[string]any{name: true}}
	}
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"update empty id", func() error { _, err := c.UpdateContact(ctx, "", set("a")); return err }, "contact id"},
		{"update id with a slash", func() error { _, err := c.UpdateContact(ctx, "a/b", set("a")); return err }, "contact id"},
		{"update nothing", func() error { _, err := c.UpdateContact(ctx, id, intercom.ContactUpdate{}); return err }, "nothing to update"},
		{"update empty name", func() error { _, err := c.UpdateContact(ctx, id, set(" ")); return err }, "empty attribute name"},
		{"update dotted name", func() error { _, err := c.UpdateContact(ctx, id, set("a.b")); return err }, "dot"},
		{"update padded name", func() error { _, err := c.UpdateContact(ctx, id, set(" a")); return err }, "surrounding spaces"},
		{"update control", func() error { _, err := c.UpdateContact(ctx, id, set("a\nb")); return err }, "control"},
		{"update long name", func() error { _, err := c.UpdateContact(ctx, id, set(strings.Repeat("a", 191))); return err }, "191 bytes"},
		{"tag empty contact", func() error { return c.TagContact(ctx, "", "1") }, "contact id"},
		{"tag empty tag", func() error { return c.TagContact(ctx, id, " ") }, "empty tag id"},
		{"untag empty contact", func() error { return c.UntagContact(ctx, "", "1") }, "contact id"},
		{"untag empty tag", func() error { return c.UntagContact(ctx, id, "") }, "tag id"},
		{"create tag empty", func() error { _, err := c.CreateTag(ctx, "  "); return err }, "empty name"},
		{"create tag control", func() error { _, err := c.CreateTag(ctx, "a\tb"); return err }, "control"},
		{"create tag long", func() error { _, err := c.CreateTag(ctx, strings.Repeat("t", 191)); return err }, "191 bytes"},
		{"update nil context", func() error { _, err := c.UpdateContact(nilCtx, id, set("a")); return err }, "nil context"},
		{"tag nil context", func() error { return c.TagContact(nilCtx, id, "1") }, "nil context"},
		{"untag nil context", func() error { return c.UntagContact(nilCtx, id, "1") }, "nil context"},
		{"create tag nil context", func() error { _, err := c.CreateTag(nilCtx, "VIP"); return err }, "nil context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("invalid calls sent %d requests", n)
	}
}

func TestUpdateContactSendsUnixSecondsForDates(t *testing.T) {
	t.Parallel()
	srv := intercomtest.NewServer(intercomtest.WithDataAttributes(
		intercomtest.DataAttribute{Name: "last_sms_sent", Type: intercomtest.AttributeDate}))
	t.Cleanup(srv.Close)
	c, err := intercom.NewClient(srv.Token, intercom.WithBaseURL(srv.URL), intercom.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := srv.AddContact(intercomtest.Contact{Phone: "+14155550123"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 13, 4, 5, 900_000_000, time.UTC)
	if _, err := c.UpdateContact(context.Background(), ct.ID, intercom.ContactUpdate{
		CustomAttributes: map[string]any{"last_sms_sent": intercom.UnixSeconds(at)}}); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	last := reqs[len(reqs)-1]
	want := fmt.Sprintf(`{"custom_attributes":{"last_sms_sent":%d}}`, at.Unix())
	if last.Method != http.MethodPut || last.Path != "/contacts/"+ct.ID || string(last.Body) != want {
		t.Errorf("request %s %s %s, want PUT with %s", last.Method, last.Path, last.Body, want)
	}
}
