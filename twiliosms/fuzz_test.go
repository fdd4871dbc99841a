package twiliosms_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

func FuzzParseInbound(f *testing.F) {
	f.Add(inboundForm().Encode())
	f.Add(twiliotest.InboundForm("+14155550100", "+14155550199", "hi", twiliosms.Media{URL: "https://m.example/1", ContentType: "image/png"}).Encode())
	f.Add("NumMedia=3&MediaUrl0=https://x&MessageSid=SM0123456789abcdef0123456789abcdef")
	f.Add("From=%zz&To=")
	f.Add("NumMedia=99999999999999999999")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		in, err := twiliosms.ParseInbound(form)
		if err != nil {
			if !errors.Is(err, twiliosms.ErrInvalidWebhook) {
				t.Fatalf("error does not wrap ErrInvalidWebhook: %v", err)
			}
			return
		}
		if in.MessageSID == "" || in.AccountSID == "" || in.From == "" || in.To == "" {
			t.Fatalf("accepted without required fields: %+v", in)
		}
		if in.NumMedia < 0 || in.NumMedia > twiliosms.MaxMedia || len(in.Media) != in.NumMedia {
			t.Fatalf("media count %d, %d entries", in.NumMedia, len(in.Media))
		}
		for _, m := range in.Media {
			if !strings.HasPrefix(m.URL, "http") {
				t.Fatalf("media URL %q", m.URL)
			}
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add(twiliotest.StatusForm("SM0123456789abcdef0123456789abcdef", "undelivered", 30007).Encode())
	f.Add("MessageStatus=sent&ErrorCode=-1")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		st, err := twiliosms.ParseStatus(form)
		if err != nil {
			if !errors.Is(err, twiliosms.ErrInvalidWebhook) {
				t.Fatalf("error does not wrap ErrInvalidWebhook: %v", err)
			}
			return
		}
		if st.MessageSID == "" || st.MessageStatus == "" || st.AccountSID == "" || st.ErrorCode < 0 {
			t.Fatalf("accepted %+v", st)
		}
	})
}

func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{"+14155550100", "(415) 555-0100", "whatsapp:+447700900123", "12345", "ACME", "", "whatsapp:", "+", "1-800-FLOWERS", "++1", "whatsapp:whatsapp:+1"} {
		f.Add(s, "US")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, addr, region string) {
		got, err := twiliosms.NormalizeAddress(addr, region)
		if err != nil {
			if !errors.Is(err, twiliosms.ErrInvalidAddress) {
				t.Fatalf("error does not wrap ErrInvalidAddress: %v", err)
			}
			return
		}
		if got == "" {
			t.Fatal("empty result without error")
		}
		again, err := twiliosms.NormalizeAddress(got, "")
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q → %q, %v", addr, got, again, err)
		}
		if twiliosms.IsWhatsApp(got) != twiliosms.IsWhatsApp(strings.TrimSpace(addr)) {
			t.Fatalf("whatsapp prefix changed: %q → %q", addr, got)
		}
	})
}

func FuzzCountSegments(f *testing.F) {
	for _, s := range []string{"", "hello", "€€€", strings.Repeat("a", 161), "😀", "it’s", "a\xffb", strings.Repeat("a", 152) + "€"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seg := twiliosms.CountSegments(s)
		if seg.Characters != utf8.RuneCountInString(s) {
			t.Fatalf("characters %d, runes %d", seg.Characters, utf8.RuneCountInString(s))
		}
		single, multi := 160, 153
		if seg.Encoding == twiliosms.UCS2 {
			single, multi = 70, 67
			if n := len(utf16.Encode([]rune(s))); n != seg.Units {
				t.Fatalf("UCS-2 units %d, UTF-16 length %d", seg.Units, n)
			}
		} else if seg.Units < seg.Characters || seg.Units > 2*seg.Characters {
			t.Fatalf("septets %d for %d characters", seg.Units, seg.Characters)
		}
		switch {
		case seg.Units == 0 && seg.Segments != 0,
			seg.Units > 0 && seg.Units <= single && seg.Segments != 1,
			seg.Units > single && (seg.Segments < (seg.Units+multi-1)/multi || seg.Segments > seg.Units/(multi-1)+1):
			t.Fatalf("%+v", seg)
		}
		if g := twiliosms.ToGSM7(s); twiliosms.CountSegments(g).Segments > seg.Segments+seg.Characters {
			t.Fatalf("ToGSM7 grew the text unreasonably")
		}
	})
}

func FuzzValidateSignature(f *testing.F) {
	f.Add("https://example.com/sms?x=1", "Body=hi&From=%2B1", "tok", "")
	f.Add("https://example.com:443/sms", "A=1&A=2&A=1", "tok", "garbage")
	f.Add("http://u:p@h/'", "", "t", "")
	f.Fuzz(func(t *testing.T, rawURL, body, token, sig string) {
		form, err := url.ParseQuery(body)
		if err != nil || token == "" || strings.TrimSpace(token) != token {
			return
		}
		good := twiliotest.Sign(token, rawURL, form)
		err = twiliosms.ValidateSignature(token, rawURL, form, good)
		u, perr := url.Parse(rawURL)
		urlOK := perr == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
		if urlOK && err != nil {
			t.Fatalf("own signature rejected: %v", err)
		}
		if !urlOK && (err == nil || errors.Is(err, twiliosms.ErrInvalidSignature)) {
			t.Fatalf("bad URL %q: want a URL error, got %v", rawURL, err)
		}
		if sig != good {
			err = twiliosms.ValidateSignature(token, rawURL, form, sig)
			if err == nil {
				t.Fatalf("accepted arbitrary signature %q", sig)
			}
		}
	})
}

func FuzzSplitBody(f *testing.F) {
	f.Add("word word word word", 7)
	f.Add("First. Second! Third? Fourth", 9)
	f.Add("🇫🇷🇩🇪👍🏽e\u0301👨\u200d👩\u200d👧", 3)
	f.Add("a\r\n\r\nb  c\td", 2)
	f.Add(strings.Repeat("😀", 30), 5)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit > 5000 || limit < -5 {
			return
		}
		pieces, err := twiliosms.SplitBody(s, limit)
		if limit < 2 {
			if err == nil {
				t.Fatalf("limit %d accepted", limit)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		units := func(p string) int {
			n := 0
			for _, r := range p {
				n += utf16.RuneLen(r)
			}
			return n
		}
		if units(s) <= limit {
			if s == "" && pieces != nil || s != "" && (len(pieces) != 1 || pieces[0] != s) {
				t.Fatalf("a text that fits came back as %q", pieces)
			}
			return
		}
		var kept strings.Builder
		for _, p := range pieces {
			if n := units(p); n > limit || n == 0 {
				t.Fatalf("piece %q has %d units, limit %d", p, n, limit)
			}
			if strings.TrimSpace(p) != p {
				t.Fatalf("piece %q is not trimmed", p)
			}
			if utf8.ValidString(s) && !utf8.ValidString(p) {
				t.Fatalf("piece %q of valid UTF-8 is not valid", p)
			}
			kept.WriteString(strip(p))
		}
		// Only white space is lost. Each piece is stripped on its own:
		// invalid bytes that end one piece and start the next can read as
		// white space (U+2029) once joined.
		if kept.String() != strip(s) {
			t.Fatalf("SplitBody(%q, %d) = %q lost text", s, limit, pieces)
		}
	})
}

func strip(s string) string {
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), "")
}
