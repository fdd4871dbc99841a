package twiliosms_test

import (
	"context"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/twiliosms"
)

func TestRecent(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t)
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	for _, m := range []twiliosms.Message{
		{To: "+14155550123", From: "+14155550100", Body: "first"},
		{To: "+14155550999", From: "+14155550100", Body: "someone else"},
		{To: "+14155550123", From: "+14155550100", Body: "second"},
	} {
		if _, err := c.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.Recent(ctx, "+14155550123", before)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Body != "second" || got[1].Body != "first" || got[0].Direction != "outbound-api" || got[0].DateCreated.IsZero() {
		t.Fatalf("Recent = %+v, want the two messages to the customer, newest first", got)
	}
	if got, err := c.Recent(ctx, "+14155550123", time.Now().Add(time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("Recent after now = %+v, %v; want none", got, err)
	}
	if _, err := c.Recent(ctx, " ", before); err == nil {
		t.Error("Recent with no recipient did not fail")
	}
	wrong, err := twiliosms.NewClient(srv.AccountSID, "wrongtoken0123456789", twiliosms.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.Recent(ctx, "+14155550123", before); err == nil || !twiliosms.IsPermanent(err) {
		t.Errorf("Recent with a wrong token = %v, want a permanent error", err)
	}
}
