package relay

import (
	"context"
	"errors"
	"testing"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// newOfflineRelay is a Relay whose clients point nowhere: for the parts of
// the relay that only touch the store.
func newOfflineRelay(t *testing.T) (*Relay, store.Store) {
	t.Helper()
	ic, err := intercom.NewClient("token", intercom.WithBaseURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	tw, err := twiliosms.NewClient("AC0123456789abcdef0123456789abcdef", "token", twiliosms.WithBaseURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	st := memstore.New()
	r, err := New(Config{
		Intercom: ic, Twilio: tw, Store: st, PublicURL: "https://relay.example",
		TwilioAuthTokens: []string{"token"}, WebhookSecrets: []string{"secret"}, NoteAuthor: "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, st
}

// adoptContact, the identity bridge's entry point: the store follows from
// to into, idempotently; a mapping to a third contact is left alone; bad
// arguments are refused.
func TestAdoptContact(t *testing.T) {
	ctx := context.Background()
	const phone = "+14155550123"
	for _, tc := range []struct {
		name   string
		stored string // "" = none
		want   string
	}{
		{"stored from", "lead-1", "user-1"},
		{"nothing stored", "", "user-1"},
		{"already into", "user-1", "user-1"},
		{"another contact since", "user-2", "user-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, st := newOfflineRelay(t)
			if tc.stored != "" {
				if err := st.SetContact(ctx, phone, tc.stored); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 2; i++ { // idempotent
				if err := r.adoptContact(ctx, phone, "lead-1", "user-1"); err != nil {
					t.Fatalf("adoptContact (%d): %v", i, err)
				}
				if got, err := st.Contact(ctx, phone); err != nil || got != tc.want {
					t.Errorf("after adoptContact (%d): stored %q, %v; want %q", i, got, err, tc.want)
				}
			}
		})
	}
	r, _ := newOfflineRelay(t)
	for _, args := range [][3]string{{"", "a", "b"}, {phone, "", "b"}, {phone, "a", " "}, {phone, "a", "a"}} {
		if err := r.adoptContact(ctx, args[0], args[1], args[2]); err == nil {
			t.Errorf("adoptContact(%q, %q, %q) = nil, want an error", args[0], args[1], args[2])
		}
	}
}

func TestContactGone(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&intercom.Error{StatusCode: 404}, true},
		{&intercom.Error{StatusCode: 410}, true},
		{&intercom.Error{StatusCode: 500}, false},
		{errors.New("x"), false},
	} {
		if got := contactGone(tc.err); got != tc.want {
			t.Errorf("contactGone(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	err := notMadeAgain(&intercom.Error{StatusCode: 404}, &intercom.Error{StatusCode: 503})
	if !errors.Is(err, intercom.ErrNotSent) || errors.Is(err, intercom.ErrNotFound) || intercom.IsAmbiguous(err) || !intercom.IsRetryable(err) {
		t.Errorf("notMadeAgain: %v: want ErrNotSent, not ErrNotFound, not ambiguous, retryable", err)
	}
}
