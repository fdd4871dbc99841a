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
		// Inside ordinary sentences, before any punctuation.
		{"hi it's ann@example.com, my order is late", "ann@example.com"},
		{"ann@example.com!", "ann@example.com"},
		{"is it ann@example.com?!", "ann@example.com"},
		{"ann@example.com; or call me", "ann@example.com"},
		{"ann@example.com: that's me", "ann@example.com"},
		{"(ann@example.com).", "ann@example.com"},
		{"[ann@example.com]", "ann@example.com"},
		{"ann@example.com's order", "ann@example.com"},
		{"ann@example.com…", "ann@example.com"},
		{"ann@example.com—thanks", "ann@example.com"},
		{"«ann@example.com»", "ann@example.com"},
		{"¿ann@example.com?", "ann@example.com"},
		{"see you @ 5. ann@example.com", "ann@example.com"},
		{"email:ann@example.com", "ann@example.com"},
		// Prose or a link around it, without a space.
		{"email=ann@example.com", "ann@example.com"},
		{"can you help?ann@example.com", "ann@example.com"},
		{"thanks!ann@example.com", "ann@example.com"},
		{"{ann@example.com}", "ann@example.com"},
		{"|ann@example.com|", "ann@example.com"},
		{"#ann@example.com", "ann@example.com"},
		{"https://ann@example.com/x", "ann@example.com"},
		// mailto: links.
		{"MAILTO:Ann@Example.com", "ann@example.com"},
		{"mailto:ann@example.com?subject=Order%201", "ann@example.com"},
		{"<mailto:ann@example.com>", "ann@example.com"},
		// Two addresses: the first.
		{"ann@example.com,bob@example.org", "ann@example.com"},
		{"ann@example.com/bob@example.org", "ann@example.com"},
		{"ann@example then ann@example.com", "ann@example.com"},
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

// givenEmail takes a text's one address, and none where there are two.
func TestGivenEmail(t *testing.T) {
	for _, tc := range []struct {
		text, want string
	}{
		{"hi it's Ann@Example.com, my order is late", "ann@example.com"},
		{"mailto:ann@example.com", "ann@example.com"},
		{"ann@example.com (ANN@EXAMPLE.COM)", "ann@example.com"},
		{"ann@example.com, bob@example.org", ""},
		{"I'm ann@example.com, I wrote to sales@example.org", ""},
		{"ann@example.com or ann@example.com or bob@example.org", ""},
		{"ann@example and ann@example.com", "ann@example.com"},
		{"no address", ""},
		{"ann at example dot com", ""},
		{strings.Repeat("x", maxEmailScan-20) + " ann@example.com bob@example.org", "ann@example.com"},
	} {
		got, ok := givenEmail(tc.text)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("givenEmail(%.60q) = %q, %v; want %q", tc.text, got, ok, tc.want)
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
		if given, gok := givenEmail(text); gok && given != got {
			t.Fatalf("givenEmail = %q, but the first address is %q", given, got)
		} else if !gok && given != "" {
			t.Fatalf("givenEmail: none, yet %q", given)
		}
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
