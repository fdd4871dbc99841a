package twiliosms

import (
	"net/url"
	"testing"
)

// FuzzHistoryCursor reads Twilio's next_page_uri (outside input) into a
// cursor and back: never a panic, and a cursor made from a URI gives back
// that URI's page token and page.
func FuzzHistoryCursor(f *testing.F) {
	f.Add("/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Messages.json?To=%2B123456789&From=%2B987654321&DateSent%3E=2008-01-02&PageSize=2&Page=1&PageToken=PAMMc26223853f8c46b4ab7dfaa6abba0a26")
	f.Add("/Messages.json?PageToken=PA1")
	f.Add("/Messages.json?Page=-3&PageToken=PA&PageToken=PB")
	f.Add("%zz")
	f.Add("")
	f.Fuzz(func(t *testing.T, uri string) {
		cursor, err := cursorOf(uri)
		if err != nil {
			return
		}
		token, page, err := parseCursor(cursor)
		u, _ := url.Parse(uri)
		q := u.Query()
		if err != nil {
			// Only a page that is not a whole number is refused.
			if q.Get("Page") == "" {
				t.Fatalf("cursor %q of %q refused: %v", cursor, uri, err)
			}
			return
		}
		if token != q.Get("PageToken") || page != q.Get("Page") {
			t.Fatalf("cursor of %q gives token %q page %q", uri, token, page)
		}
	})
}

// FuzzHistoryCounts reads Twilio's counts and dates (outside input): never
// a panic, and never a negative count.
func FuzzHistoryCounts(f *testing.F) {
	f.Add("3", "Mon, 02 Nov 2026 09:00:00 +0000")
	f.Add("-1", "")
	f.Add("99999999999999999999", "2026-11-02")
	f.Fuzz(func(t *testing.T, n, date string) {
		if c, err := countOf(&n); err == nil && c < 0 {
			t.Fatalf("countOf(%q) = %d", n, c)
		}
		_, _ = rfc2822(&date)
	})
}
