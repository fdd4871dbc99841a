package mask_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/smsrelay/smsrelay/internal/mask"
)

func TestAddress(t *testing.T) {
	for in, want := range map[string]string{
		"+15551234567":            "+155******67",
		"whatsapp:+15551234567":   "whatsapp:+155******67",
		"12345":                   "*****",
		"+4412345":                "+4****45",
		"+14155550123":            "+141******23",
		"+447700900123":           "+447*******23",
		"+33612345678":            "+336******78",
		"WhatsApp:+447700900123":  "WhatsApp:+447*******23",
		"+1 (415) 555-0123":       "+1 (41*) ***-**23",
		"+44 7700 900123":         "+44 7*** ****23",
		"(415) 555-0123":          "(***) ***-**23",
		"415.555.0123":            "***.***.**23",
		"07700 900123":            "***** ****23",
		"06 12 34 56 78":          "** ** ** ** 78",
		"0044 7700 900123":        "**** **** ****23",
		"1-800-FLOWERS":           "*-***-FLOWERS",
		"+123456789":              "+123****89",
		"+12345678":               "+1*****78",
		"898":                     "***",
		"22395000":                "******00",
		"ACME":                    "ACME",
		"":                        "",
		"+":                       "+",
		"whatsapp:":               "whatsapp:",
		"+٤٤٧٧٠٠٩٠٠١٢٣":           "+٤٤٧*******٢٣",
		"+1415555\n0123":          "+141****\n**23",
		"sms:+14155550123":        "sms:+141******23",
		"+1 415 555 0123 ext. 12": "+1 41* *** **** ext. 12",
	} {
		if got := mask.Address(in); got != want {
			t.Errorf("Address(%q) = %q, want %q", in, got, want)
		}
	}
}

// shown is a Policy.Mask that shows what the scanner found instead of
// masking it.
func shown(lead, number string) string { return "<" + lead + "|" + number + ">" }

func TestNumbers(t *testing.T) {
	words := mask.Policy{MinDigits: 7, Bare: mask.Words, Mask: shown}
	nanp := mask.Policy{MinDigits: 7, Bare: mask.NANP, Mask: shown}
	for _, tc := range []struct{ in, words, nanp string }{
		{"no digits here", "no digits here", "no digits here"},
		{"call +1 617 555 0142 now", "call <+|1 617 555 0142> now", "call <+|1 617 555 0142> now"},
		{"whatsapp:+447700900123.", "whatsapp:<+|447700900123>.", "whatsapp:<+|447700900123>."},
		{"To=%2B16175550142&From=x", "To=<%2B|16175550142>&From=x", "To=<%2B|16175550142>&From=x"},
		{"To=%2b16175550142", "To=<%2b|16175550142>", "To=<%2b|16175550142>"},
		{"To=%2B1%20617%20555%200142", "To=<%2B|1%20617%20555%200142>", "To=<%2B|1%20617%20555%200142>"},
		{"+1 - 617 - 555 - 0142", "<+|1 - 617 - 555 - 0142>", "<+|1 - 617 - 555 - 0142>"},
		{"+44 (0)20 7946 0958", "<+|44 (0)20 7946 0958>", "<+|44 (0)20 7946 0958>"},
		{"+14155550123+14155550199", "<+|14155550123><+|14155550199>", "<+|14155550123><+|14155550199>"},
		{"x+14155550123y", "x<+|14155550123>y", "x<+|14155550123>y"},
		{"“+15551234567”", "“<+|15551234567>”", "“<+|15551234567>”"},
		// Bare runs: as words, or (NANP) only as North American numbers.
		{"to 6175550142.", "to <|6175550142>.", "to 6175550142."},
		{"(617) 555-0142", "<|(617) 555-0142>", "<|(617) 555-0142>"},
		{"(617)555-0142", "<|(617)555-0142>", "<|(617)555-0142>"},
		{"617.555.0142", "<|617.555.0142>", "<|617.555.0142>"},
		{"1 617 555 0142", "<|1 617 555 0142>", "<|1 617 555 0142>"},
		{"x%20617%20555%200142", "x%20<|617%20555%200142>", "x%20<|617%20555%200142>"},
		{"07700 900123", "<|07700 900123>", "07700 900123"},
		{"«15551234567»", "«<|15551234567>»", "«15551234567»"},
		{"电话15551234567。", "电话<|15551234567>。", "电话15551234567。"},
		{"id_15551234567", "id_<|15551234567>", "id_15551234567"},
		{"conversation 215468889786478 part 7843", "conversation <|215468889786478> part 7843", "conversation 215468889786478 part 7843"},
		// Left alone by both.
		{"+1 -- 617 ---- 555", "+1 -- 617 ---- 555", "+1 -- 617 ---- 555"},
		{"+123456 and 12345", "+123456 and 12345", "+123456 and 12345"},
		{"error 21211 at 12:00, code 20003", "error 21211 at 12:00, code 20003", "error 21211 at 12:00, code 20003"},
		{"account AC0123456789abcdef0123456789abcdef", "account AC0123456789abcdef0123456789abcdef", "account AC0123456789abcdef0123456789abcdef"},
		{"id 1234567890abcdef", "id 1234567890abcdef", "id 1234567890abcdef"},
		{"x617-555-0142", "x617-555-0142", "x617-555-0142"},
		{"upstream 192.168.100.200:8443 down", "upstream 192.168.100.200:8443 down", "upstream 192.168.100.200:8443 down"},
		{"%41%42%43%44%45%46%47", "%41%42%43%44%45%46%47", "%41%42%43%44%45%46%47"},
	} {
		if got := mask.Numbers(tc.in, words); got != tc.words {
			t.Errorf("Numbers(%q, Words) = %q, want %q", tc.in, got, tc.words)
		}
		if got := mask.Numbers(tc.in, nanp); got != tc.nanp {
			t.Errorf("Numbers(%q, NANP) = %q, want %q", tc.in, got, tc.nanp)
		}
	}
	six := mask.Policy{MinDigits: 6, Bare: mask.Words, Mask: mask.Replace("[number]")}
	if got, want := mask.Numbers("+123456 and 123456, not 12345", six), "[number] and [number], not 12345"; got != want {
		t.Errorf("Numbers with MinDigits 6 = %q, want %q", got, want)
	}
}

func TestMasks(t *testing.T) {
	for _, tc := range []struct {
		name         string
		mask         func(lead, number string) string
		lead, number string
		want         string
	}{
		{"KeepShape", mask.KeepShape, "+", "1 617 555 0142", "+1 61* *** **42"},
		{"KeepShape", mask.KeepShape, "%2B", "16175550142", "%2B*********42"},
		{"KeepShape", mask.KeepShape, "%2B", "1%20617%20555%200142", "%2B* *** *** **42"},
		{"KeepShape", mask.KeepShape, "", "(415) 555-0123", "(***) ***-**23"},
		{"Compact", mask.Compact, "+", "1 (415) 555-0123", "+141******23"},
		{"Compact", mask.Compact, "%2B", "1%20415%20555%200123", "+141******23"},
		{"Compact", mask.Compact, "", "(415) 555-0123", "********23"},
		{"Replace", mask.Replace("[number]"), "+", "15551234567", "[number]"},
	} {
		if got := tc.mask(tc.lead, tc.number); got != tc.want {
			t.Errorf("%s(%q, %q) = %q, want %q", tc.name, tc.lead, tc.number, got, tc.want)
		}
	}
}

func TestEmails(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Cannot search for Ann.Lee+shop@example.com.", "Cannot search for A***@***.com."},
		{"GET /x?email=ann%40example.co.uk&n=1", "GET /x?email=a***@***.uk&n=1"},
		{"ann@example.com and bob@example.org", "a***@***.com and b***@***.org"},
		{"not an address: @example.com, user@localhost", "not an address: @example.com, user@localhost"},
		{"no at sign", "no at sign"},
	} {
		if got := mask.Emails(tc.in); got != tc.want {
			t.Errorf("Emails(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzNumbers: whatever surrounds it, a number written after a '+' is
// masked under every policy, and text with no ASCII digit comes back as it
// was; masking with KeepShape only turns digits into '*'.
func FuzzNumbers(f *testing.F) {
	for _, s := range []string{"", "x", "7", "%", "%2", "%2B", "%20", "(", "+", "555-0142 ", "AC0123", "\xff", "é", "@", "192.168.1.1", "a%40b.com"} {
		f.Add(s, s)
	}
	f.Add("GET /x?To=", "&From=%2B14155550100")
	f.Add("The 'To' number ", " is not a valid phone number.")
	f.Add("conversation 215468889786478 part", "(415) 555-0123")
	policies := []mask.Policy{
		{MinDigits: 7, Bare: mask.Words, Mask: mask.KeepShape},
		{MinDigits: 7, Bare: mask.NANP, Mask: mask.Compact},
		{MinDigits: 6, Bare: mask.Words, Mask: mask.Replace("[number]")},
	}
	const planted, tail = "+1 617 555 0142", "555 0142"
	f.Fuzz(func(t *testing.T, before, after string) {
		in := before + " " + planted + " " + after
		for _, p := range policies {
			out := mask.Numbers(in, p)
			if strings.Count(out, tail) > strings.Count(before, tail)+strings.Count(after, tail) {
				t.Fatalf("Numbers(%q, %+v) = %q shows the number", in, p.Bare, out)
			}
			if !strings.ContainsAny(before, "0123456789") {
				if got := mask.Numbers(before, p); got != before {
					t.Fatalf("Numbers(%q) = %q changed text with no digits", before, got)
				}
			}
		}
		if strings.Contains(before, "%") {
			return
		}
		got := mask.Numbers(before, policies[0])
		in2, out := []rune(before), []rune(got)
		if len(in2) != len(out) {
			t.Fatalf("Numbers(%q, KeepShape) = %q changed the length", before, got)
		}
		for i, r := range in2 {
			if out[i] != r && !(out[i] == '*' && r >= '0' && r <= '9') {
				t.Fatalf("Numbers(%q, KeepShape) = %q changed %q into %q", before, got, r, out[i])
			}
		}
	})
}

// FuzzEmails: an address is masked whatever surrounds it.
func FuzzEmails(f *testing.F) {
	for _, s := range []string{"", "x", ".", "@", "%40", "ann", "example.com", "\xff"} {
		f.Add(s, s)
	}
	const planted = "ann.lee@example.com"
	f.Fuzz(func(t *testing.T, before, after string) {
		out := mask.Emails(before + " " + planted + " " + after)
		if strings.Count(out, "lee@example") > strings.Count(before, "lee@example")+strings.Count(after, "lee@example") {
			t.Fatalf("Emails shows the address: %q", out)
		}
	})
}

func FuzzAddress(f *testing.F) {
	for _, s := range []string{"+14155550123", "whatsapp:+447700900123", "(415) 555-0123", "12345", "ACME", "", "+", "+٤٤٧٧٠٠٩٠٠١٢٣", "\xff1234567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		got := mask.Address(addr)
		in, out := []rune(addr), []rune(got)
		if len(in) != len(out) {
			t.Fatalf("Address(%q) = %q changed the length", addr, got)
		}
		digits, shown := 0, 0
		for i, r := range in {
			switch {
			case unicode.IsDigit(r):
				digits++
				if out[i] == r {
					shown++
				} else if out[i] != '*' {
					t.Fatalf("Address(%q) = %q: digit became %q", addr, got, out[i])
				}
			case out[i] != r:
				t.Fatalf("Address(%q) = %q changed a non-digit", addr, got)
			}
		}
		if digits <= 6 && shown != 0 || shown > 5 {
			t.Fatalf("Address(%q) = %q shows %d of %d digits", addr, got, shown, digits)
		}
	})
}
