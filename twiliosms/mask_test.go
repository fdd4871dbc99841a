package twiliosms_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
	"github.com/twilio/twilio-go/client"
)

// digitRun is a run of digits, perhaps with separators between them.
var digitRun = regexp.MustCompile(`[0-9](?:[ .\-/()]{0,2}[0-9])*`)

// leaksNumber reports whether text shows 6 or more consecutive digits of
// number (separators ignored, in text and in number alike).
func leaksNumber(text, number string) bool {
	var digits strings.Builder
	for _, r := range number {
		if r >= '0' && r <= '9' {
			digits.WriteRune(r)
		}
	}
	d := digits.String()
	if len(d) < 7 {
		return false
	}
	for _, run := range digitRun.FindAllString(text, -1) {
		run = strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, run)
		for i := 0; i+6 <= len(d); i++ {
			if strings.Contains(run, d[i:i+6]) {
				return true
			}
		}
	}
	return false
}

// numberForms are one number written in the ways people and APIs write it.
// (Not 415 555 01xx: the package's messages use +14155550100 as an
// example.)
var numberForms = []string{
	"+16175550142",
	"+1 617 555 0142",
	"+1 (617) 555-0142",
	"+1-617-555-0142",
	"+1.617.555.0142",
	"(617) 555-0142",
	"617-555-0142",
	"617 555 0142",
	"6175550142",
	"16175550142",
	"whatsapp:+16175550142",
	"WhatsApp:+1 617 555 0142",
	"+44 7700 900123",
	"+447700900123",
	"07700 900123",
	"+33 6 12 34 56 78",
	"tel:+16175550142",
	"%2B16175550142",
	"whatsapp%3A%2B16175550142",
}

// TestNormalizeAddressErrorsMask feeds NormalizeAddress broken variants of
// every form and checks no error shows the number.
func TestNormalizeAddressErrorsMask(t *testing.T) {
	for _, n := range numberForms {
		for _, bad := range []struct{ in, region string }{
			{n + "99999999", ""},           // too long
			{n + " ext. 12", "US"},         // extension
			{n, "XX"},                      // unknown region
			{"sms:" + n, ""},               // unsupported channel
			{n + "\n", ""},                 // control character (trimmed: may pass)
			{n + " Corporation", "US"},     // neither number nor sender id
			{"whatsapp:" + n + "0000", ""}, // too long after whatsapp:
			{strings.TrimPrefix(n, "+"), ""},
			{n[:len(n)-1] + ":" + "1", ""}, // odd channel made of digits
		} {
			_, err := twiliosms.NormalizeAddress(bad.in, bad.region)
			if err == nil {
				continue
			}
			if !errors.Is(err, twiliosms.ErrInvalidAddress) {
				t.Errorf("NormalizeAddress(%q): %v does not wrap ErrInvalidAddress", bad.in, err)
			}
			if leaksNumber(err.Error(), bad.in) {
				t.Errorf("NormalizeAddress(%q, %q) error leaks the number: %v", bad.in, bad.region, err)
			}
		}
	}
}

func TestValidateErrorsMask(t *testing.T) {
	const body = "secret body 6175550142 text"
	for _, n := range numberForms {
		for _, m := range []twiliosms.Message{
			{To: n, From: "+14155550199", Body: body},
			{To: "+14155550100", From: n + "x!", Body: body},
			{To: n, From: "+14155550199", Body: body, MediaURLs: []string{"/relative?to=" + n}},
			{To: "+14155550100", From: "+14155550199", Body: body, StatusCallback: "ftp://hooks.example/?to=" + n},
			{To: "+14155550100", From: "+14155550199", Body: strings.Repeat("é", 1601)},
		} {
			err := m.Validate()
			if err == nil {
				continue
			}
			if leaksNumber(err.Error(), n) || strings.Contains(err.Error(), "secret body") || strings.Contains(err.Error(), "éé") {
				t.Errorf("Validate(%+v) error leaks: %v", m, err)
			}
		}
	}
}

// TestTwilioErrorMessagesMask: Twilio's own messages quote the number
// ("The 'To' number … is not a valid phone number."); the error text masks
// it, the TwilioRestError keeps it.
func TestTwilioErrorMessagesMask(t *testing.T) {
	srv, c := newFake(t)
	for _, n := range numberForms {
		msg := fmt.Sprintf("The 'To' number %s is not a valid phone number.", n)
		srv.Fail(twiliotest.Fault{Code: 21211, Message: msg})
		_, err := c.Send(t.Context(), twiliosms.Message{To: "+16175550142", From: "+14155550199", Body: "x"})
		var te *client.TwilioRestError
		if !errors.As(err, &te) || te.Message != msg || te.Code != 21211 {
			t.Fatalf("want the TwilioRestError with the raw message, got %v", err)
		}
		if leaksNumber(err.Error(), n) {
			t.Errorf("error leaks %q: %v", n, err)
		}
		for _, want := range []string{"twiliosms: send: ", "21211", "HTTP 400", "is not a valid phone number", "https://www.twilio.com/docs/errors/21211"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}

		body := "<html><p>Rejected To=" + n + "</p></html>"
		srv.Fail(twiliotest.Fault{Status: 502, RawBody: body})
		_, err = c.Send(t.Context(), twiliosms.Message{To: "+16175550142", From: "+14155550199", Body: "x"})
		var he *twiliosms.HTTPError
		if !errors.As(err, &he) || he.Body != body {
			t.Fatalf("want the HTTPError with the raw body, got %v", err)
		}
		if leaksNumber(err.Error(), n) || leaksNumber(he.Error(), n) {
			t.Errorf("HTTPError leaks %q: %v", n, err)
		}
	}
	// The fake's own 21211 quotes the To, as Twilio does.
	bypass, err := twiliosms.NewClient(srv.AccountSID, srv.AuthToken, twiliosms.WithBaseURL(srv.URL),
		twiliosms.WithHTTPClient(&http.Client{Transport: rewriteTo{"+1 617 555 0142", http.DefaultTransport}}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = bypass.Send(t.Context(), twiliosms.Message{To: "+16175550142", From: "+14155550199", Body: "x"})
	if code, _ := twiliosms.ErrorCode(err); code != 21211 || leaksNumber(err.Error(), "+16175550142") {
		t.Errorf("fake's 21211: %v", err)
	}
}

// rewriteTo replaces the To of a create-message request, as if Validate
// had been bypassed.
type rewriteTo struct {
	to   string
	next http.RoundTripper
}

func (r rewriteTo) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.ParseForm(); err != nil {
		return nil, err
	}
	form := req.PostForm
	form.Set("To", r.to)
	out := req.Clone(req.Context())
	out.Body = http.NoBody
	enc := form.Encode()
	out.Body = readCloser{strings.NewReader(enc)}
	out.ContentLength = int64(len(enc))
	return r.next.RoundTrip(out)
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// TestTransportErrorsMask: an error with no answer names the host the
// request went to (not api.twilio.com under WithBaseURL) and carries no
// query, so no recipient.
func TestTransportErrorsMask(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	base := dead.URL
	dead.Close()
	host := strings.TrimPrefix(base, "http://")
	c, err := twiliosms.NewClient(twiliotest.DefaultAccountSID, twiliotest.DefaultAuthToken, twiliosms.WithBaseURL(base))
	if err != nil {
		t.Fatal(err)
	}
	const to = "+16175550142"
	_, rerr := c.Recent(t.Context(), to, time.Now().Add(-time.Hour))
	_, serr := c.Send(t.Context(), twiliosms.Message{To: to, From: "+14155550199", Body: "secret body"})
	for name, err := range map[string]error{"Recent": rerr, "Send": serr} {
		if err == nil {
			t.Fatalf("%s: want an error", name)
		}
		text := err.Error()
		if leaksNumber(text, to) || strings.Contains(text, "To=") || strings.Contains(text, "?") ||
			strings.Contains(text, "twilio.com") || strings.Contains(text, "secret body") || !strings.Contains(text, host) {
			t.Errorf("%s error %q: want the host %s, no query, number or body", name, text, host)
		}
		if !twiliosms.IsRetryable(err) || twiliosms.MaybeSent(err) {
			t.Errorf("%s: refused connection: IsRetryable %v MaybeSent %v", name, twiliosms.IsRetryable(err), twiliosms.MaybeSent(err))
		}
	}

	// A transport of the caller's that quotes the URL in its error.
	echo := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("proxy refused %s", req.URL)
	})
	c, _ = twiliosms.NewClient(twiliotest.DefaultAccountSID, twiliotest.DefaultAuthToken, twiliosms.WithHTTPClient(&http.Client{Transport: echo}))
	_, err = c.Recent(t.Context(), "whatsapp:"+to, time.Now())
	if err == nil || leaksNumber(err.Error(), to) {
		t.Errorf("echoing transport: %v", err)
	}

	// Cancelled in flight.
	srv, c := newFake(t, twiliotest.WithLatency(10*time.Second))
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = c.Recent(ctx, to, time.Now())
	if !errors.Is(err, context.Canceled) || leaksNumber(err.Error(), to) || strings.Contains(err.Error(), "To=") ||
		!strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "http://")) {
		t.Errorf("cancelled Recent: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestErrorTextMasksOnlyNumbers: what Error masks in a quoted body, and
// what it leaves alone.
func TestErrorTextMasksOnlyNumbers(t *testing.T) {
	for body, want := range map[string]string{
		"call +1 617 555 0142 now":                   "call +1 61* *** **42 now",
		"To=%2B16175550142&From=x":                   "To=%2B*********42&From=x",
		"to 6175550142.":                             "to ********42.",
		"error 21211 at 12:00, code 20003":           "error 21211 at 12:00, code 20003",
		"account AC0123456789abcdef0123456789abcdef": "account AC0123456789abcdef0123456789abcdef",
		"message SMabcdef0123456789abcdef0123456789": "message SMabcdef0123456789abcdef0123456789",
		"upstream 192.168.100.200:8443 down":         "upstream 192.168.100.200:8443 down",
		"id 1234567890abcdef":                        "id 1234567890abcdef",
		"phone: 07700 900123":                        "phone: ***** ****23",
		"To=%2B1%20617%20555%200142&From=x":          "To=%2B* *** *** **42&From=x",
		"电话6175550142。":                              "电话********42。",
	} {
		e := &twiliosms.HTTPError{StatusCode: 502, Body: body}
		if got := e.Error(); !strings.Contains(got, fmt.Sprintf("%q", want)) {
			t.Errorf("HTTPError{Body: %q}.Error() = %s, want it to quote %q", body, got, want)
		}
	}
}
