package relay

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
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
		{"+44 (0)20 7946 0958", "+440********58"},
		{"To=%2B1%20415%20555%200123", "To=+141******23"},
		{"call 415/555/0123", "call ********23"},
		{"call (415)555-0123", "call ********23"},
		{"1 415 555 0123", "*********23"},
		{"+1415555012345678", "+141***********78"},
		{"conversation 215468889786478 part 7843", "conversation 215468889786478 part 7843"},
		{"intercom: POST /conversations/215468889786478/reply: 502", "intercom: POST /conversations/215468889786478/reply: 502"},
		{"GET /x?email=ann%40example.co.uk&To=%2B14155550123", "GET /x?email=a***@***.uk&To=+141******23"},
		{"ann@example.com and +14155550123", "a***@***.com and +141******23"},
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

// Values of any kind reach the log masked.
func TestRedactingHandler(t *testing.T) {
	var b strings.Builder
	log := newRedactingLogger(slog.New(slog.NewTextHandler(&b, nil)))
	log.With("url", "/x?To=%2B14155550123").Info("sent to +14155550123",
		"values", url.Values{"To": {"+14155550123"}},
		"err", errors.New("The 'To' number +14155550123 is not valid"),
		"group", slog.GroupValue(slog.String("to", "+14155550123")),
		"conversation", "215468889786478")
	out := b.String()
	if strings.Contains(out, "4155550123") {
		t.Fatalf("log carries the number: %s", out)
	}
	if !strings.Contains(out, "215468889786478") {
		t.Fatalf("log lost an Intercom id: %s", out)
	}
}
