// Package mask masks phone numbers and email addresses in text bound for
// logs and error messages: error bodies, URLs, vendors' messages, log
// values. It is the one masker of the module; each caller says with a
// [Policy] which runs of digits read as phone numbers to it and what takes
// their place:
//
//   - twiliosms masks numbers in its errors keeping their shape
//     ("+1 61* *** **42"), numbers without a '+' included;
//   - intercom replaces numbers in Intercom's error messages with
//     "[number]", from six digits;
//   - relay masks numbers in its logs but leaves bare digit runs alone,
//     since Intercom's ids are long digit runs too, and masks email
//     addresses ([Emails]).
//
// [Address] masks one address given alone (twiliosms.MaskAddress).
package mask

import (
	"regexp"
	"strings"
	"unicode"
)

// Address returns addr with most of its digits replaced by '*': of an
// address with at least 7 digits it keeps the last 2 and, when a '+' comes
// right before the first digit, the first 3 after it (only the first 1
// when there are 7 or 8 digits in all); an address of 6 digits or fewer
// loses all of them. Unicode decimal digits count as digits; everything
// else stays where it is, so a formatted number keeps its shape. This is
// the algorithm twiliosms.MaskAddress documents.
func Address(addr string) string {
	digits, first := 0, -1
	for i, r := range addr {
		if unicode.IsDigit(r) {
			if first < 0 {
				first = i
			}
			digits++
		}
	}
	if digits == 0 {
		return addr
	}
	keepFront, keepBack := 0, 2
	switch {
	case digits <= 6:
		keepBack = 0
	case first > 0 && addr[first-1] == '+':
		keepFront = 1
		if digits >= 9 {
			keepFront = 3
		}
	}
	var b strings.Builder
	b.Grow(len(addr))
	seen := 0
	for _, r := range addr {
		if !unicode.IsDigit(r) {
			b.WriteRune(r)
			continue
		}
		seen++
		if seen <= keepFront || seen > digits-keepBack {
			b.WriteRune(r)
		} else {
			b.WriteByte('*')
		}
	}
	return b.String()
}

// Policy says which runs of digits in free text [Numbers] masks and what
// takes their place.
//
// A run is an ASCII digit, perhaps after an opening bracket, then more
// digits with at most three separators between any two of them (space,
// dot, dash, slash, brackets, or a URL-encoded space "%20"). A run led by
// '+', or by its URL encoding "%2B", is masked when it holds MinDigits
// digits or more, whatever stands around it. Any other run (a bare run) is
// masked only when it also holds MinDigits digits, stands as a word of its
// own (no ASCII letter or digit right before or after it: digits inside a
// SID or a hex id are left alone), is not a dotted IPv4 address, and, when
// Bare is [NANP], is written as a North American number.
type Policy struct {
	// MinDigits is the fewest digits a run must hold to be masked.
	MinDigits int
	// Bare says which bare runs (runs with no '+') read as phone numbers.
	Bare Bare
	// Mask gives the text that takes a masked run's place: lead is what
	// led the run ("+", "%2B", "%2b" or ""), number the run itself, from
	// its opening bracket or first digit to its last digit. It must not
	// be nil: [KeepShape], [Compact] and [Replace] are the usual ones.
	Mask func(lead, number string) string
}

// Bare says which runs of digits with no '+' before them read as phone
// numbers.
type Bare int

const (
	// Words: every bare run that stands as a word of its own.
	Words Bare = iota
	// NANP: only a bare run written as a North American number, three
	// digits, three and four in groups set apart by separators ("(415)
	// 555-0123", "415.555.0123"), perhaps among other groups ("1 415 555
	// 0123"). A bare run of digits alone, such as an Intercom id, is
	// left alone.
	NANP
)

// maxSeparators is how many separators may stand between two digits of
// one run.
const maxSeparators = 3

// ipv4Like is a dotted quad, which would otherwise read as a number.
var ipv4Like = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,3}){3}$`)

// Numbers masks every run of digits in s that p reads as a phone number,
// replacing it (and what led it) with p.Mask's text. Text with no such run
// comes back unchanged.
func Numbers(s string, p Policy) string {
	if !strings.ContainsAny(s, "0123456789") {
		return s
	}
	var b strings.Builder
	written := 0
	for i := 0; i < len(s); {
		lead := leadAt(s, i)
		start := i + len(lead) // the run: its bracket or first digit
		first := start         // its first digit
		if first < len(s) && s[first] == '(' {
			first++
		}
		if first >= len(s) || !isDigit(s[first]) || lead == "" && inEscape(s, i) {
			i++
			continue
		}
		end, groups := scanRun(s, first)
		if masks(s, p, lead, i, start, end, groups) {
			b.WriteString(s[written:i])
			b.WriteString(p.Mask(lead, s[start:end]))
			written = end
		}
		i = end
	}
	if written == 0 {
		return s
	}
	b.WriteString(s[written:])
	return b.String()
}

// leadAt returns the '+' or "%2B" that begins at s[i], or "".
func leadAt(s string, i int) string {
	switch {
	case s[i] == '+':
		return "+"
	case len(s)-i >= 3 && strings.EqualFold(s[i:i+3], "%2B"):
		return s[i : i+3]
	}
	return ""
}

// scanRun reads the run whose first digit is s[first]: it returns where
// the run ends (after its last digit) and the sizes of its groups of
// digits.
func scanRun(s string, first int) (end int, groups []int) {
	pos := first
	for {
		n := 0
		for pos < len(s) && isDigit(s[pos]) {
			pos++
			n++
		}
		groups = append(groups, n)
		end = pos
		seps := 0
		for seps < maxSeparators && pos < len(s) {
			if strings.IndexByte(" .-/()", s[pos]) >= 0 {
				pos++
			} else if strings.HasPrefix(s[pos:], "%20") {
				pos += 3
			} else {
				break
			}
			seps++
		}
		if seps == 0 || pos >= len(s) || !isDigit(s[pos]) {
			return end, groups
		}
	}
}

// masks reports whether p masks the run s[start:end], led by lead from
// s[at:start], whose groups of digits have the sizes groups.
func masks(s string, p Policy, lead string, at, start, end int, groups []int) bool {
	digits := 0
	for _, n := range groups {
		digits += n
	}
	if digits < p.MinDigits {
		return false
	}
	if lead != "" {
		return true
	}
	if glued(s, at, end) || ipv4Like.MatchString(s[start:end]) {
		return false
	}
	if p.Bare == NANP {
		for i := 0; i+2 < len(groups); i++ {
			if groups[i] == 3 && groups[i+1] == 3 && groups[i+2] == 4 {
				return true
			}
		}
		return false
	}
	return true
}

// glued reports whether s[start:end] touches an ASCII letter or digit on
// either side, as the digits of an id or a hex string do. An escaped
// character ("%20") before it counts as a separator.
func glued(s string, start, end int) bool {
	before := start > 0 && isWordByte(s[start-1]) &&
		!(start >= 3 && s[start-3] == '%' && isHex(s[start-2]) && isHex(s[start-1]))
	return before || end < len(s) && isWordByte(s[end])
}

// inEscape reports whether s[i] is one of the two hex digits of a
// URL escape ("%20", "%3A").
func inEscape(s string, i int) bool {
	return i >= 1 && s[i-1] == '%' || i >= 2 && s[i-2] == '%' && isHex(s[i-1])
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isWordByte(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// KeepShape is a [Policy.Mask] that masks a number with [Address] and
// keeps its shape: "+1 617 555 0142" gives "+1 61* *** **42". A "%2B" lead
// stays as written before the masked digits; URL-encoded spaces ("%20")
// are written as spaces.
func KeepShape(lead, number string) string {
	number = strings.ReplaceAll(number, "%20", " ")
	if lead == "+" {
		return Address(lead + number)
	}
	return lead + Address(number)
}

// Compact is a [Policy.Mask] that masks a number with [Address] once its
// separators are gone, with a '+' for any lead: "%2B1%20415%20555%200123"
// and "+1 (415) 555-0123" both give "+141******23".
func Compact(lead, number string) string {
	var b strings.Builder
	if lead != "" {
		b.WriteByte('+')
	}
	for i := 0; i < len(number); i++ {
		if strings.HasPrefix(number[i:], "%20") {
			i += 2
		} else if isDigit(number[i]) {
			b.WriteByte(number[i])
		}
	}
	return Address(b.String())
}

// Replace returns a [Policy.Mask] that writes text in a number's place.
func Replace(text string) func(lead, number string) string {
	return func(string, string) string { return text }
}

// emailLike matches what reads as an email address in free text, its @
// maybe URL-encoded (%40). The local part leaves out the atext characters
// that delimit a URL's query (/ ? = & %), so that "?email=ann%40example.com"
// masks the address only.
var emailLike = regexp.MustCompile("[A-Za-z0-9.!#$'*+^_`{|}~-]+(?:@|%40)[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+")

// Emails masks what reads as an email address in s, keeping the first
// character of the address and its top-level domain: "ann@example.com"
// gives "a***@***.com".
func Emails(s string) string {
	if !strings.Contains(s, "@") && !strings.Contains(s, "%40") {
		return s
	}
	return emailLike.ReplaceAllStringFunc(s, func(m string) string {
		return m[:1] + "***@***." + m[strings.LastIndexByte(m, '.')+1:]
	})
}
