package twiliosms

import "strings"

// Encoding is the character set a message travels in.
type Encoding string

// The two encodings an SMS may use.
const (
	// GSM7 is the GSM 03.38 default alphabet: 7-bit septets, 160 per
	// single message, 153 per segment of a longer one.
	GSM7 Encoding = "GSM-7"
	// UCS2 is used as soon as one character is outside GSM-7: UTF-16 code
	// units, 70 per single message, 67 per segment.
	UCS2 Encoding = "UCS-2"
)

// Segments describes how a text is sent as SMS.
type Segments struct {
	// Encoding is GSM7 when every character is in the GSM-7 alphabet or
	// its extension table, UCS2 otherwise.
	Encoding Encoding
	// Segments is the number of SMS the text is split into (0 for "").
	Segments int
	// Characters is the number of Unicode characters (runes).
	Characters int
	// Units is the length in the encoding's units: septets for GSM-7 (an
	// extension character such as '€' or '{' costs 2), UTF-16 code units
	// for UCS-2 (an emoji costs 2).
	Units int
}

// gsmBasic is the GSM 03.38 default alphabet (3GPP TS 23.038), without
// the escape code itself.
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsmExtension is the extension table: each costs an escape septet more.
const gsmExtension = "\f^{}\\[~]|€"

// gsmCost returns how many septets r costs in GSM-7, or 0 when r is not in
// GSM-7 at all.
func gsmCost(r rune) int {
	switch {
	case strings.ContainsRune(gsmBasic, r):
		return 1
	case strings.ContainsRune(gsmExtension, r):
		return 2
	}
	return 0
}

// CountSegments tells how s would be encoded and into how many segments
// Twilio splits it. Any character outside GSM-7 and its extension table
// switches the whole text to UCS-2. A text longer than one segment
// (160 septets, 70 UTF-16 units) is cut into segments of 153 septets or 67
// UTF-16 units; an extension character's escape pair, like a UTF-16
// surrogate pair, is never split between two segments, so a segment may
// carry one unit less. Invalid UTF-8 counts as U+FFFD (UCS-2).
func CountSegments(s string) Segments {
	seg := Segments{Encoding: GSM7}
	costs := make([]int, 0, len(s))
	for _, r := range s {
		seg.Characters++
		c := gsmCost(r)
		if c == 0 {
			seg.Encoding = UCS2
		}
		costs = append(costs, c)
	}
	single, multi := 160, 153
	if seg.Encoding == UCS2 {
		single, multi = 70, 67
		costs = costs[:0]
		for _, r := range s {
			if r >= 0x10000 {
				costs = append(costs, 2) // surrogate pair
			} else {
				costs = append(costs, 1)
			}
		}
	}
	for _, c := range costs {
		seg.Units += c
	}
	switch {
	case seg.Units == 0:
		seg.Segments = 0
	case seg.Units <= single:
		seg.Segments = 1
	default:
		used := 0
		seg.Segments = 1
		for _, c := range costs {
			if used+c > multi {
				seg.Segments++
				used = 0
			}
			used += c
		}
	}
	return seg
}

// gsmReplacements maps characters that would force UCS-2 to GSM-7
// look-alikes. "" removes the character.
var gsmReplacements = map[rune]string{
	'\u2018': "'", '\u2019': "'", '\u201A': "'", '\u201B': "'", '\u2032': "'", '\u02BC': "'", '`': "'", '\u00B4': "'",
	'\u201C': `"`, '\u201D': `"`, '\u201E': `"`, '\u201F': `"`, '\u2033': `"`, '\u00AB': `"`, '\u00BB': `"`,
	'\u2039': "<", '\u203A': ">",
	'\u2010': "-", '\u2011': "-", '\u2012': "-", '\u2013': "-", '\u2014': "-", '\u2015': "-", '\u2212': "-", '\u00AD': "",
	'\u2026': "...",
	'\u2022': "-", '\u00B7': ".",
	'\u02C6': "^", '\u02DC': "~",
	'\t':     " ",
	'\u00A0': " ", '\u2000': " ", '\u2001': " ", '\u2002': " ", '\u2003': " ", '\u2004': " ", '\u2005': " ",
	'\u2006': " ", '\u2007': " ", '\u2008': " ", '\u2009': " ", '\u200A': " ", '\u202F': " ", '\u205F': " ", '\u3000': " ",
	'\u200B': "", '\u200C': "", '\u200D': "", '\u2060': "", '\uFEFF': "",
	'\u2028': "\n", '\u2029': "\n",
}

// ToGSM7 replaces characters that would force a text into UCS-2 with GSM-7
// look-alikes: curly and angled quotes become ' and ", dashes and minus
// signs become -, the ellipsis becomes "...", tabs and non-breaking or
// typographic spaces become a plain space, and zero-width characters and
// soft hyphens are removed. Other characters (letters, emoji) are kept, so
// the result may still need UCS-2; [CountSegments] tells.
func ToGSM7(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if rep, ok := gsmReplacements[r]; ok {
			b.WriteString(rep)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
