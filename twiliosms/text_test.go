package twiliosms_test

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/smsrelay/smsrelay/twiliosms"
)

func TestCountSegments(t *testing.T) {
	a := strings.Repeat
	for _, tc := range []struct {
		name  string
		in    string
		enc   twiliosms.Encoding
		segs  int
		chars int
		units int
	}{
		{"empty", "", twiliosms.GSM7, 0, 0, 0},
		{"hello", "hello", twiliosms.GSM7, 1, 5, 5},
		{"gsm accents", "Ça va? Où ès-tu, Jürgen? ¿Qué tal? £5 ¥6 §7", twiliosms.GSM7, 1, 43, 43},
		{"acute o is not gsm", "pasó", twiliosms.UCS2, 1, 4, 4},
		{"greek capitals", "ΔΦΓΛΩΠΨΣΘΞ", twiliosms.GSM7, 1, 10, 10},
		{"newlines", "a\nb\r\nc", twiliosms.GSM7, 1, 6, 6},
		{"extension", "{[~^|\\]}€", twiliosms.GSM7, 1, 9, 18},
		{"form feed", "\f", twiliosms.GSM7, 1, 1, 2},
		{"160", a("a", 160), twiliosms.GSM7, 1, 160, 160},
		{"161", a("a", 161), twiliosms.GSM7, 2, 161, 161},
		{"306", a("a", 306), twiliosms.GSM7, 2, 306, 306},
		{"307", a("a", 307), twiliosms.GSM7, 3, 307, 307},
		{"euro tips over 160", a("a", 159) + "€", twiliosms.GSM7, 2, 160, 161},
		{"euro fits 160", a("a", 158) + "€", twiliosms.GSM7, 1, 159, 160},
		// 306 septets would fit in 2 segments, but the escape pair may not
		// straddle the boundary after 152 septets.
		{"escape pair not split", a("a", 152) + "€" + a("a", 152), twiliosms.GSM7, 3, 305, 306},
		{"escape pair fits", a("a", 151) + "€" + a("a", 153), twiliosms.GSM7, 2, 305, 306},
		{"backtick", "`", twiliosms.UCS2, 1, 1, 1},
		{"lower c cedilla", "ç", twiliosms.UCS2, 1, 1, 1},
		{"curly quote", "it’s", twiliosms.UCS2, 1, 4, 4},
		{"70 ucs2", a("ő", 70), twiliosms.UCS2, 1, 70, 70},
		{"71 ucs2", a("ő", 71), twiliosms.UCS2, 2, 71, 71},
		{"134 ucs2", a("ж", 134), twiliosms.UCS2, 2, 134, 134},
		{"135 ucs2", a("ж", 135), twiliosms.UCS2, 3, 135, 135},
		{"emoji", "😀", twiliosms.UCS2, 1, 1, 2},
		{"35 emoji", a("😀", 35), twiliosms.UCS2, 1, 35, 70},
		{"36 emoji", a("😀", 36), twiliosms.UCS2, 2, 36, 72},
		{"surrogate pair not split", a("ж", 66) + "😀" + a("ж", 66), twiliosms.UCS2, 3, 133, 134},
		{"one emoji switches all", a("a", 100) + "😀", twiliosms.UCS2, 2, 101, 102},
		{"invalid utf8", "a\xffb", twiliosms.UCS2, 1, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := twiliosms.CountSegments(tc.in)
			want := twiliosms.Segments{Encoding: tc.enc, Segments: tc.segs, Characters: tc.chars, Units: tc.units}
			if got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestToGSM7(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain text", "plain text"},
		{"“Hi” – it’s…\u00a0ok", `"Hi" - it's... ok`},
		{"‘single’ ‚low‛ `tick´", "'single' 'low' 'tick'"},
		{"«guillemets» ‹one›", `"guillemets" <one>`},
		{"em—dash en–dash minus−two ‐hyphen", "em-dash en-dash minus-two -hyphen"},
		{"tab\there", "tab here"},
		{"zero\u200bwidth\ufeff soft\u00adhyphen", "zerowidth softhyphen"},
		{"narrow\u202fnbsp\u2009thin\u3000ideographic", "narrow nbsp thin ideographic"},
		{"emoji 😀 stays", "emoji 😀 stays"},
		{"Ünïcode ç stays", "Ünïcode ç stays"},
	} {
		if got := twiliosms.ToGSM7(tc.in); got != tc.want {
			t.Errorf("ToGSM7(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Every typographic character ToGSM7 handles ends up in GSM-7.
	all := "‘’‚‛′ʼ`´“”„‟″«»‹›‐‑‒–—―−\u00ad…•·ˆ˜\t\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\u200b\u200c\u200d\u2060\ufeff\u2028\u2029"
	if in := twiliosms.CountSegments(all); in.Encoding != twiliosms.UCS2 {
		t.Fatal("test input should need UCS-2")
	}
	if out := twiliosms.CountSegments(twiliosms.ToGSM7(all)); out.Encoding != twiliosms.GSM7 {
		t.Fatalf("ToGSM7 left UCS-2 characters: %q", twiliosms.ToGSM7(all))
	}
}

func TestCountSegmentsBoundaries(t *testing.T) {
	// Twilio's rules: GSM-7 160 septets single, 153 per concatenated
	// segment; UCS-2 70 units single, 67 per segment; an extension
	// character costs 2 septets and its pair, like a surrogate pair, stays
	// in one segment.
	a := strings.Repeat
	for _, tc := range []struct {
		name  string
		in    string
		enc   twiliosms.Encoding
		segs  int
		units int
	}{
		{"459 gsm = 3 full segments", a("a", 459), twiliosms.GSM7, 3, 459},
		{"460 gsm", a("a", 460), twiliosms.GSM7, 4, 460},
		{"1600 gsm", a("a", 1600), twiliosms.GSM7, 11, 1600},
		{"80 euros = 160 septets", a("€", 80), twiliosms.GSM7, 1, 160},
		{"81 euros: 76 pairs per segment", a("€", 81), twiliosms.GSM7, 2, 162},
		{"152 euros", a("€", 152), twiliosms.GSM7, 2, 304},
		{"153 euros", a("€", 153), twiliosms.GSM7, 3, 306},
		{"extension at 153", a("a", 152) + "{", twiliosms.GSM7, 1, 154},
		{"extension after 153", a("a", 153) + "{" + a("a", 10), twiliosms.GSM7, 2, 165},
		{"201 ucs2 = 3 full segments", a("ж", 201), twiliosms.UCS2, 3, 201},
		{"202 ucs2", a("ж", 202), twiliosms.UCS2, 4, 202},
		{"33 emoji per segment", a("😀", 67), twiliosms.UCS2, 3, 134},
		{"emoji pair at 67", a("ж", 65) + "😀" + a("ж", 67), twiliosms.UCS2, 2, 134},
		{"gsm letters with one cyrillic", a("a", 69) + "ж", twiliosms.UCS2, 1, 70},
		{"euro in ucs2 costs 1", a("€", 69) + "ж", twiliosms.UCS2, 1, 70},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := twiliosms.CountSegments(tc.in)
			if got.Encoding != tc.enc || got.Segments != tc.segs || got.Units != tc.units {
				t.Fatalf("got %+v, want %s, %d segments, %d units", got, tc.enc, tc.segs, tc.units)
			}
		})
	}
}

func TestSplitBody(t *testing.T) {
	a := strings.Repeat
	for _, tc := range []struct {
		name  string
		in    string
		limit int
		want  []string
	}{
		{"empty", "", 10, nil},
		{"fits unchanged", "  short  ", 10, []string{"  short  "}},
		{"exact fit", "0123456789", 10, []string{"0123456789"}},
		{"word break", "alpha beta gamma", 11, []string{"alpha beta", "gamma"}},
		{"word ends at the limit", "alpha beta gamma", 10, []string{"alpha beta", "gamma"}},
		{"line right after the limit", "alpha beta\ngamma", 10, []string{"alpha beta", "gamma"}},
		{"sentence right after the limit", "Hi there. Bye now", 9, []string{"Hi there.", "Bye now"}},
		{"line before word", "one two three\nfour five six", 20, []string{"one two three", "four five six"}},
		{"sentence before word", "First one. Second one here", 20, []string{"First one.", "Second one here"}},
		{"sentence with closing quote", `He said "stop." and left`, 20, []string{`He said "stop."`, "and left"}},
		{"line break too early ignored", "a\nbcdefgh ijk lmnop", 12, []string{"a\nbcdefgh", "ijk lmnop"}},
		{"no space: hard cut", a("x", 25), 10, []string{a("x", 10), a("x", 10), a("x", 5)}},
		{"emoji count two", a("😀", 6), 5, []string{"😀😀", "😀😀", "😀😀"}},
		{"flag pair kept", "🇫🇷🇩🇪🇮🇹", 6, []string{"🇫🇷", "🇩🇪", "🇮🇹"}},
		{"flags odd limit", "🇫🇷🇩🇪", 7, []string{"🇫🇷", "🇩🇪"}},
		{"skin tone kept", "👍🏽👍🏽👍🏽", 6, []string{"👍🏽", "👍🏽", "👍🏽"}},
		{"combining accent kept", "e\u0301e\u0301e\u0301", 5, []string{"e\u0301e\u0301", "e\u0301"}},
		{"ZWJ family longer than limit split by code point", "👨\u200d👩\u200d👧", 4, []string{"👨\u200d", "👩\u200d", "👧"}},
		{"ZWJ family kept", "ab 👨\u200d👩\u200d👧", 10, []string{"ab", "👨\u200d👩\u200d👧"}},
		{"whitespace only dropped", a(" ", 30), 10, nil},
		{"blank lines dropped", "a" + a("\n", 30) + "b", 10, []string{"a", "b"}},
		{"crlf kept together", "abcd\r\nefgh", 5, []string{"abcd", "efgh"}},
		{"invalid utf8 kept", "ab\xffcd ef", 5, []string{"ab\xffcd", "ef"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := twiliosms.SplitBody(tc.in, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("SplitBody(%q, %d)\n got %q\nwant %q", tc.in, tc.limit, got, tc.want)
			}
		})
	}
	for _, limit := range []int{-1, 0, 1} {
		if _, err := twiliosms.SplitBody("hello", limit); err == nil || !strings.HasPrefix(err.Error(), "twiliosms: ") {
			t.Errorf("SplitBody with limit %d: %v, want an error", limit, err)
		}
	}
}

// TestSplitBodyLikeRelay keeps the behaviour the relay's splitText tests
// ask for.
func TestSplitBodyLikeRelay(t *testing.T) {
	long := strings.Repeat("word ", 700) // 3500 characters
	parts, err := twiliosms.SplitBody(long, twiliosms.MaxBodyLength)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 {
		t.Fatalf("got %d parts, want 3", len(parts))
	}
	total := 0
	for _, p := range parts {
		if n := utf16Len(p); n > twiliosms.MaxBodyLength {
			t.Errorf("part of %d units", n)
		}
		if strings.HasPrefix(p, "ord") {
			t.Errorf("part %q starts mid-word", p[:10])
		}
		total += len(strings.Fields(p))
	}
	if total != 700 {
		t.Errorf("parts hold %d words, want 700", total)
	}
	if got, _ := twiliosms.SplitBody("short", twiliosms.MaxBodyLength); !slices.Equal(got, []string{"short"}) {
		t.Errorf("SplitBody(short) = %q", got)
	}
	emoji := strings.Repeat("😀", 2000)
	got, _ := twiliosms.SplitBody(emoji, twiliosms.MaxBodyLength)
	if strings.Join(got, "") != emoji || len(got) != 3 {
		t.Errorf("emoji split into %d parts that do not rebuild the text", len(got))
	}
	for _, p := range got {
		if !utf8.ValidString(p) || utf16Len(p) > twiliosms.MaxBodyLength {
			t.Errorf("emoji split broke a rune or the limit")
		}
	}
	// A message that fits goes through Validate.
	for _, p := range parts {
		if err := (twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: p}).Validate(); err != nil {
			t.Error(err)
		}
	}
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }
