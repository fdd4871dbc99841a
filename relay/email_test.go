package relay

import (
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestExtractEmail(t *testing.T) {
	for _, tc := range []struct {
		text, want string
	}{
		{"ann@example.com", "ann@example.com"},
		{"  Ann@Example.COM  ", "ann@example.com"},
		{"it's ann.lee+shop@example.co.uk.", "ann.lee+shop@example.co.uk"},
		{"My email is ann@example.com, thanks!", "ann@example.com"},
		{"<ann@example.com>", "ann@example.com"},
		{"Ann Lee <ann@example.com>", "ann@example.com"},
		{"mailto:ann@example.com", "ann@example.com"},
		{"(ann@example.com)", "ann@example.com"},
		{"\"ann@example.com\"", "ann@example.com"},
		{"ann＠example.com", "ann@example.com"},
		{"email: ann_o'neil@sub.example-shop.com?", "ann_o'neil@sub.example-shop.com"},
		{"ann@example.com or bob@example.org", "ann@example.com"},
		{"@ first, then ann@example.com", "ann@example.com"},
		{"a@b@example.com", "b@example.com"},
		{"ann@xn--bcher-kva.example", "ann@xn--bcher-kva.example"},
		{"line one\nann@example.com\nline three", "ann@example.com"},
		{"...ann@example.com...", "ann@example.com"},
		{"ann@example.com-", "ann@example.com"},
		// Quotes and WhatsApp's *bold*, _italic_, ~strike~ and `code`
		// around the address are not part of it.
		{"it's 'ann@example.com'", "ann@example.com"},
		{"*ann@example.com*", "ann@example.com"},
		{"_ann@example.com_", "ann@example.com"},
		{"~ann@example.com~", "ann@example.com"},
		{"`ann@example.com`", "ann@example.com"},
		{"_ann@example.com", "_ann@example.com"},
		// No address.
		{"", ""},
		{"no thanks", ""},
		{"STOP", ""},
		{"ann at example dot com", ""},
		{"ann@localhost", ""},
		{"ann@example", ""},
		{"ann@example.c", ""},
		{"ann@example.123", ""},
		{"@example.com", ""},
		{"ann@", ""},
		{"ann..lee@example.com", ""},
		{"ann.@example.com", ""},
		{"ann@-example.com", ""},
		{"ann@example..com", ""},
		{"ann@bücher.de", ""},
		{"call me @ 5pm", ""},
		{"price: 5@3.50", ""},
		{strings.Repeat("a", 65) + "@example.com", ""},
		{"ann@" + strings.Repeat("a", 64) + ".com", ""},
		{"ann@" + strings.Repeat(strings.Repeat("a", 60)+".", 5) + "com", ""},
		{strings.Repeat("x", maxEmailScan) + " ann@example.com", ""},
	} {
		got, ok := extractEmail(tc.text)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("extractEmail(%.60q) = %q, %v; want %q", tc.text, got, ok, tc.want)
		}
	}
}

// FuzzExtractEmail: whatever the text, an address found is a bare,
// lower-case address net/mail accepts, within RFC 5321's bounds, and it
// is found again in itself.
func FuzzExtractEmail(f *testing.F) {
	for _, s := range []string{"ann@example.com", "Ann Lee <ann@example.com>", "a@b@c.de", "ann＠example.com",
		"@", "@@..", "x@y.z", "mailto:ann@example.com?subject=hi", "\xff@example.com", "ann@example.com\x00",
		"'ann@example.com'", "*ann@example.com*", "_ann@example.com_", "__a@b.cd_", "`~'*.a@b.cd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got, ok := extractEmail(text)
		if !ok {
			if got != "" {
				t.Fatalf("no address, yet %q", got)
			}
			return
		}
		if len(got) > maxEmailLen || got != strings.ToLower(got) || !utf8.ValidString(got) {
			t.Fatalf("address %q: too long, not lower case or not UTF-8", got)
		}
		if a, err := mail.ParseAddress(got); err != nil || a.Address != got {
			t.Fatalf("address %q does not parse as itself: %v", got, err)
		}
		if again, ok := extractEmail(got); !ok || again != got {
			t.Fatalf("extractEmail(%q) = %q, %v; want it back", got, again, ok)
		}
		lower := strings.ToLower(strings.ReplaceAll(text, "＠", "@"))
		if !strings.Contains(lower, got) {
			t.Fatalf("address %q is not in the text %q", got, text)
		}
	})
}
