package twiliosms

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
)

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

// SplitBody cuts s into pieces of at most limit UTF-16 code units each,
// the measure Twilio applies to a body (see [MaxBodyLength]), so that each
// piece can go as a message of its own: SplitBody(text, MaxBodyLength).
//
// A text that fits is returned whole and unchanged, and "" gives no pieces
// (nil). A longer text is cut where a reader would least mind. Within the
// last half of the room a piece has, the cut goes, by preference, at a
// line break, after the end of a sentence ('.', '!' or '?', perhaps
// followed by a closing quote or bracket, then white space), or at any
// white space; failing those, between two characters. A cut never falls
// inside a UTF-16 surrogate pair (an emoji counts 2 units), nor, as far as
// this simplified reading of Unicode's rules for user-perceived characters
// goes, inside a character written with several code points (a letter and
// its combining accents, an emoji with a skin tone or variation selector, a
// flag, a sequence joined by U+200D) unless that character alone is longer
// than limit. White space around each cut is dropped, so when s is split,
// every piece is trimmed, and pieces that would be empty are left out.
// Invalid UTF-8 is kept as it is and each bad byte counts one unit.
//
// limit must be at least 2, the units of the longest code point; a smaller
// one is an error.
func SplitBody(s string, limit int) ([]string, error) {
	if limit < 2 {
		return nil, fmt.Errorf("twiliosms: SplitBody: limit %d is below 2 UTF-16 code units", limit)
	}
	if s == "" {
		return nil, nil
	}
	if _, all := fitUnits(s, limit); all {
		return []string{s}, nil
	}
	var out []string
	for {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
		if s == "" {
			return out, nil
		}
		end, all := fitUnits(s, limit)
		if all {
			return append(out, strings.TrimRightFunc(s, unicode.IsSpace)), nil
		}
		at := cutAt(s, end)
		if piece := strings.TrimRightFunc(s[:at], unicode.IsSpace); piece != "" {
			out = append(out, piece)
		}
		s = s[at:]
	}
}

// utf16Units is the length of s in UTF-16 code units, an invalid byte
// counting one.
func utf16Units(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// fitUnits returns the byte length of the longest prefix of s of at most
// limit UTF-16 units that ends between two user-perceived characters (or,
// when the first one alone is longer than limit, between two code points),
// and whether that prefix is all of s. limit is at least 2, so the prefix
// is never empty.
func fitUnits(s string, limit int) (end int, all bool) {
	units := 0
	lastChar := 0 // the last character boundary within limit
	var prev rune
	regional := 0 // regional indicators in a row, up to prev
	for i, r := range s {
		if i > 0 && charBoundary(prev, r, regional) {
			lastChar = i
		}
		n := utf16.RuneLen(r)
		if units+n > limit {
			if lastChar == 0 {
				return i, false
			}
			return lastChar, false
		}
		units += n
		if isRegionalIndicator(r) {
			regional++
		} else {
			regional = 0
		}
		prev = r
	}
	return len(s), true
}

// charBoundary reports whether a user-perceived character ends between
// prev and r: a simplified form of the grapheme cluster rules of Unicode
// Standard Annex #29 that keeps CR LF, combining marks, variation
// selectors, emoji modifiers and tags, ZWJ sequences and flag pairs
// together. regional counts the regional indicators in a row up to prev.
func charBoundary(prev, r rune, regional int) bool {
	switch {
	case prev == '\r' && r == '\n':
		return false
	case prev == '\u200d' || r == '\u200d':
		return false
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc):
		return false
	case r >= 0xFE00 && r <= 0xFE0F, r >= 0xE0100 && r <= 0xE01EF: // variation selectors
		return false
	case r >= 0x1F3FB && r <= 0x1F3FF: // emoji skin tone modifiers
		return false
	case r >= 0xE0020 && r <= 0xE007F: // tags (subdivision flags)
		return false
	case isRegionalIndicator(prev) && isRegionalIndicator(r) && regional%2 == 1:
		return false
	}
	return true
}

func isRegionalIndicator(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }

// cutAt returns where to end the piece s[:end], the longest prefix of s
// that fits: at its last line break, sentence end or white space (the one
// right after it included) that leaves the piece at least half of its
// units, or else at end.
func cutAt(s string, end int) int {
	half := utf16Units(s[:end]) / 2
	line, sentence, space := -1, -1, -1
	units := 0
	var last rune // the last rune before i that is no closing quote or bracket
	for i, r := range s {
		if i > end {
			break
		}
		if i > 0 && units >= half && unicode.IsSpace(r) {
			if r == '\n' {
				line = i
			}
			if last == '.' || last == '!' || last == '?' {
				sentence = i
			}
			space = i
		}
		units += utf16.RuneLen(r)
		if !isCloser(r) {
			last = r
		}
	}
	for _, at := range []int{line, sentence, space} {
		if at > 0 {
			return at
		}
	}
	return end
}

// isCloser reports whether r may close a sentence after its full stop: a
// quotation mark or closing bracket.
func isCloser(r rune) bool {
	return strings.ContainsRune("\"')]}»’”", r)
}
