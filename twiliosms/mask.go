package twiliosms

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaskAddress returns addr with most of its digits replaced by '*', fit
// for logs and error messages: "+14155550123" gives "+141******23" and
// "whatsapp:+447700900123" gives "whatsapp:+447*******23". It is the one
// masking this module uses; every error of this package that concerns an
// address shows it masked.
//
// Of an address with at least 7 digits, MaskAddress keeps the last 2
// digits and, when a '+' comes right before the first digit, the first 3
// digits after it (the country code and perhaps a little more; only the
// first 1 when there are 7 or 8 digits in all). An address of 6 digits or
// fewer, such as a short code, loses all of them. Every other digit
// (Unicode decimal digits included) becomes '*', and everything else
// stays where it is, so a formatted number keeps its shape, "(415)
// 555-0123" giving "(***) ***-**23", and letters, such as those of a
// "whatsapp:" prefix or an alphanumeric sender id, are kept. The result
// is not escaped: quote it (%q) where control characters could matter.
func MaskAddress(addr string) string {
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

var (
	// numberLike finds candidate phone numbers in free text: digits with
	// at most two separators (space, dot, dash, slash, brackets) between
	// them, perhaps after a '+' or an opening bracket.
	numberLike = regexp.MustCompile(`\+?\(?[0-9](?:[ .\-/()]{0,2}[0-9])+`)
	// ipv4Like is a dotted quad, which numberLike would take for a number.
	ipv4Like = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,3}){3}$`)
)

// maskNumbers masks, with MaskAddress, every run in text that looks like a
// phone number: 7 or more digits, perhaps with spaces, dots, dashes,
// slashes or brackets between them, after a '+' (or its URL encoding
// "%2B"), or standing as a word of its own. Digits inside a longer word,
// such as a SID ("AC0123456789…") or a hex string, and dotted IPv4
// addresses are left alone.
func maskNumbers(text string) string {
	matches := numberLike.FindAllStringIndex(text, -1)
	if matches == nil {
		return text
	}
	var b strings.Builder
	last := 0
	for _, m := range matches {
		span := text[m[0]:m[1]]
		if !phoneLike(text, m[0], m[1]) || ipv4Like.MatchString(span) {
			continue
		}
		b.WriteString(text[last:m[0]])
		b.WriteString(MaskAddress(span))
		last = m[1]
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// phoneLike reports whether text[start:end], a numberLike match, should be
// masked.
func phoneLike(text string, start, end int) bool {
	digits := 0
	for _, c := range []byte(text[start:end]) {
		if c >= '0' && c <= '9' {
			digits++
		}
	}
	if digits < 7 {
		return false
	}
	if text[start] == '+' || start >= 3 && strings.EqualFold(text[start-3:start], "%2B") {
		return true
	}
	before, _ := utf8.DecodeLastRuneInString(text[:start])
	after, _ := utf8.DecodeRuneInString(text[end:])
	word := func(r rune) bool { return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r)) }
	return (start == 0 || !word(before)) && (end == len(text) || !word(after))
}
