package relay

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"no digits here", "no digits here"},
		{"The 'To' number +14155550123 is not a valid phone number", "The 'To' number +141******23 is not a valid phone number"},
		{"Get https://api.twilio.com/x?To=%2B14155550123&PageSize=50", "Get https://api.twilio.com/x?To=+141******23&PageSize=50"},
		{"whatsapp:+447700900123 failed", "whatsapp:+447*******23 failed"},
		{"call (415) 555-0123 now", "call ********23 now"},
		{"+1 415-555-0123", "+141******23"},
		{"conversation 215468889786478 part 7843", "conversation 215468889786478 part 7843"},
		{"intercom: POST /conversations/215468889786478/reply: 502", "intercom: POST /conversations/215468889786478/reply: 502"},
	} {
		if got := redact(tc.in); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMountHint(t *testing.T) {
	stripped := httptest.NewRequest("POST", "/sms/twilio/messages", nil)
	stripped.URL.Path = "/twilio/messages" // as http.StripPrefix("/sms", ...) leaves it
	for _, tc := range []struct {
		name, publicURL string
		req             *http.Request
		want            string
	}{
		{"mounted as configured", "https://x.example", httptest.NewRequest("POST", "/twilio/messages", nil), ""},
		{"prefix counted twice", "https://x.example/sms", httptest.NewRequest("POST", "/sms/twilio/messages", nil), "counted twice"},
		{"prefix stripped and missing", "https://x.example", stripped, "StripPrefix"},
		{"prefix stripped and configured", "https://x.example/sms", stripped, ""},
	} {
		got := mountHint(tc.publicURL, tc.req)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: mountHint = %q, want it to say %q", tc.name, got, tc.want)
		}
	}
}
