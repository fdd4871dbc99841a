package relay

import (
	"net/mail"
	"strings"
)

// This file reads an email address out of a customer's text: the answer
// to the identity bridge's prompt, or an address given before it was asked
// for (identity.go). The text is outside input: anything at all, of any
// length.

// maxEmailScan bounds how much of a text is read for an address: an SMS
// answer is at most 1600 characters; more is not an answer.
const maxEmailScan = 4096

// Bounds of RFC 5321.
const (
	maxEmailLen = 254
	maxLocalLen = 64
	maxLabelLen = 63
)

// extractEmail returns the first email address in text, in lower case, and
// whether there was one. It takes what people type: "it's
// Ann.Lee+shop@Example.co.uk.", "<ann@example.com>", "mailto:ann@example.com",
// "'ann@example.com'", WhatsApp's "*ann@example.com*", a full-width "＠",
// "email=ann@example.com". It does not take an address spelled out ("ann
// at example dot com"), an address without a dot in its domain, a domain in
// non-ASCII letters (type it in its xn-- form), quoted local parts, or a
// local part with one of proseBytes in it (it is read from after the
// last); then the answer counts as one without an address.
func extractEmail(text string) (string, bool) {
	var first string
	scanEmails(text, func(addr string) bool {
		first = addr
		return false
	})
	return first, first != ""
}

// givenEmail returns the email address a text gives unasked: its only
// one, found as extractEmail finds it, the same address written twice
// counting once. A text with two or more different addresses gives none:
// which one is the customer's ("I'm ann@example.com, I wrote to
// sales@example.org") is for them to say when asked.
func givenEmail(text string) (string, bool) {
	var only string
	several := false
	scanEmails(text, func(addr string) bool {
		if only != "" && addr != only {
			several = true
			return false
		}
		only = addr
		return true
	})
	if several || only == "" {
		return "", false
	}
	return only, true
}

// scanEmails calls yield with each email address in text, in order, in
// lower case, until yield returns false (see extractEmail for what is an
// address). Only the first maxEmailScan bytes of text are read.
func scanEmails(text string, yield func(string) bool) {
	if len(text) > maxEmailScan {
		text = text[:maxEmailScan]
	}
	text = strings.ReplaceAll(text, "＠", "@")
	for i := 0; i < len(text); i++ {
		if text[i] != '@' {
			continue
		}
		lo := i
		for lo > 0 && isLocalByte(text[lo-1]) {
			lo--
		}
		hi := i + 1
		for hi < len(text) && isDomainByte(text[hi]) {
			hi++
		}
		domain := strings.TrimRight(text[i+1:hi], ".-")
		local := text[lo:i]
		if j := strings.LastIndexAny(local, proseBytes); j >= 0 {
			local = local[j+1:]
		}
		local = trimLocal(local, text[i+1+len(domain):])
		if addr, ok := validEmail(local, domain); ok {
			if !yield(addr) {
				return
			}
			i += len(domain) // past the address: its domain holds no '@'
		}
	}
}

// proseBytes may be in a local part (RFC 5322 atext) but, in a text, are
// far more often the prose or the link around an address than part of it:
// "email=ann@example.com", "help?ann@example.com", "https://ann@example.com",
// "{ann@example.com}". A local part is read from after the last of them.
const proseBytes = "/=?#!{|"

// trimLocal strips from the front of a local part what is not part of the
// address: dots, quotes and WhatsApp's *bold*, ~strike~ and `code` marks,
// and an _italic_ mark when the address is closed by one too (after is
// the text that follows the address's domain).
func trimLocal(local, after string) string {
	for local != "" {
		switch c := local[0]; {
		case c == '.' || c == '\'' || c == '*' || c == '~' || c == '`':
		case c == '_' && strings.HasPrefix(after, "_"):
		default:
			return local
		}
		local = local[1:]
	}
	return local
}

// validEmail checks an address found in a text and returns it in lower
// case.
func validEmail(local, domain string) (string, bool) {
	if local == "" || len(local) > maxLocalLen || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return "", false
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "", false
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
	}
	tld := labels[len(labels)-1]
	if len(tld) < 2 || !(allLetters(tld) || strings.HasPrefix(strings.ToLower(tld), "xn--")) {
		return "", false
	}
	addr := strings.ToLower(local + "@" + domain)
	if len(addr) > maxEmailLen {
		return "", false
	}
	// The standard library has the last word on what an address is.
	if a, err := mail.ParseAddress(addr); err != nil || a.Address != addr {
		return "", false
	}
	return addr, true
}

// isLocalByte reports whether b may be in the local part of an address
// (RFC 5322 atext and the dot).
func isLocalByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", b) >= 0
}

// isDomainByte reports whether b may be in a domain name.
func isDomainByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '-':
		return true
	}
	return false
}

func allLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
