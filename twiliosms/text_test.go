package twiliosms_test

import (
	"strings"
	"testing"

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
