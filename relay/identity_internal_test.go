package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
)

func TestPickUser(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	u := func(id, role, email string, days int) intercom.Contact {
		return intercom.Contact{ID: id, Role: role, Email: email, UpdatedAt: t0.AddDate(0, 0, days)}
	}
	for _, tc := range []struct {
		name      string
		found     []intercom.Contact
		wantUser  string
		wantLeads int
	}{
		{"none", nil, "", 0},
		{"one user", []intercom.Contact{u("u1", "user", "ann@example.com", 0)}, "u1", 0},
		{"user in other case", []intercom.Contact{u("u1", "user", "Ann@Example.com", 0)}, "u1", 0},
		{"leads only", []intercom.Contact{u("l1", "lead", "ann@example.com", 0), u("l2", "lead", "ann@example.com", 1)}, "", 2},
		{"most recently updated user", []intercom.Contact{u("u1", "user", "ann@example.com", 0), u("u2", "user", "ann@example.com", 5), u("u3", "user", "ann@example.com", 2)}, "u2", 0},
		{"first of equals", []intercom.Contact{u("u1", "user", "ann@example.com", 3), u("u2", "user", "ann@example.com", 3)}, "u1", 0},
		{"user beats a newer lead", []intercom.Contact{u("l1", "lead", "ann@example.com", 9), u("u1", "user", "ann@example.com", 0)}, "u1", 1},
		{"other address ignored", []intercom.Contact{u("u1", "user", "bob@example.com", 9)}, "", 0},
		{"unknown role ignored", []intercom.Contact{u("x1", "visitor", "ann@example.com", 9)}, "", 0},
	} {
		got, leads := pickUser(tc.found, "ann@example.com")
		id := ""
		if got != nil {
			id = got.ID
		}
		if id != tc.wantUser || leads != tc.wantLeads {
			t.Errorf("%s: pickUser = %q, %d leads; want %q, %d", tc.name, id, leads, tc.wantUser, tc.wantLeads)
		}
	}
}

func TestUserLink(t *testing.T) {
	if got := userLink("", "c1"); got != "" {
		t.Errorf("no workspace: %q", got)
	}
	if got, want := userLink("ws1", "c1"), "https://app.intercom.com/a/apps/ws1/users/c1/all-conversations"; got != want {
		t.Errorf("userLink = %q, want %q", got, want)
	}
}

func TestIdentityNotesEscape(t *testing.T) {
	user := intercom.Contact{ID: "u1", Name: "<b>Ann</b>", Email: "ann@example.com"}
	for _, n := range []string{
		noteIdentityMerged(user, "l1", "ann@example.com", `https://x/"><script>`),
		noteIdentityLinked(user, "ann@example.com", "", "<why>"),
		noteIdentityNoUser("<x>@example.com", 1),
		noteIdentityAsked("<prompt>", "+1"),
	} {
		for _, bad := range []string{"<b>", "<script>", "<why>", "<x>", "<prompt>"} {
			if strings.Contains(n, bad) {
				t.Errorf("note %q holds unescaped %q", n, bad)
			}
		}
	}
}
