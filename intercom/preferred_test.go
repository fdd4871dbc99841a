package intercom_test

import (
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
)

func TestPreferredContact(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	user := func(id string, at time.Time) intercom.Contact {
		return intercom.Contact{ID: id, Role: "user", UpdatedAt: at}
	}
	lead := func(id string, at time.Time) intercom.Contact {
		return intercom.Contact{ID: id, Role: "lead", UpdatedAt: at}
	}
	for _, tc := range []struct {
		name string
		cs   []intercom.Contact
		want string // "" = none
	}{
		{"none", nil, ""},
		{"only ids missing", []intercom.Contact{{Role: "user"}}, ""},
		{"one lead", []intercom.Contact{lead("a", t0)}, "a"},
		{"user over a newer lead", []intercom.Contact{lead("a", t0.Add(time.Hour)), user("b", t0)}, "b"},
		{"user over a newer lead, user first", []intercom.Contact{user("b", t0), lead("a", t0.Add(time.Hour))}, "b"},
		{"two users: the most recently updated", []intercom.Contact{user("a", t0), user("b", t0.Add(time.Second)), user("c", t0.Add(-time.Hour))}, "b"},
		{"two leads: the most recently updated", []intercom.Contact{lead("a", t0.Add(time.Minute)), lead("b", t0)}, "a"},
		{"tie: the first", []intercom.Contact{user("a", t0), user("b", t0)}, "a"},
		{"unknown update time ranks last within the role", []intercom.Contact{user("a", time.Time{}), user("b", t0)}, "b"},
		{"other roles after leads", []intercom.Contact{{ID: "v", Role: "visitor", UpdatedAt: t0.Add(time.Hour)}, lead("a", t0)}, "a"},
		{"only another role", []intercom.Contact{{ID: "v", Role: ""}}, "v"},
		{"skips a contact without id", []intercom.Contact{{Role: "user", UpdatedAt: t0.Add(time.Hour)}, lead("a", t0)}, "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]intercom.Contact(nil), tc.cs...)
			got, ok := intercom.PreferredContact(tc.cs)
			if ok != (tc.want != "") || got.ID != tc.want {
				t.Errorf("PreferredContact = %q, %v; want %q", got.ID, ok, tc.want)
			}
			for i := range in {
				if in[i] != tc.cs[i] {
					t.Errorf("PreferredContact changed its argument")
				}
			}
		})
	}
}
