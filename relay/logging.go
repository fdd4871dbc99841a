package relay

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/smsrelay/smsrelay/twiliosms"
)

// The relay's logs never carry a full phone number or email address,
// whatever path a value takes to them: addresses are logged masked (twiliosms.MaskAddress), and every log
// record also passes through redactHandler, which masks anything shaped
// like a phone number or an email address in the message, in string values
// and in errors (an error may quote a request URL or a vendor's message
// naming the number or the address the identity bridge searched for).
// Message bodies are never logged.

// phoneLike matches what reads as a phone number in free text: an
// international number (+, or %2B in a URL, and 7 to 15 digits, maybe with
// separators), or a
// North American number written with separators. Bare digit runs are left
// alone: Intercom's ids are long digit runs too.
var phoneLike = regexp.MustCompile(`(?:\+|%2[Bb])\d(?:(?:[ \-./()]|%20){0,3}\d){6,14}|\(?\b\d{3}\)?(?:[ \-./]|%20)\d{3}(?:[ \-./]|%20)\d{4}\b`)

// emailLike matches what reads as an email address in free text, its @
// maybe URL-encoded (%40). The local part leaves out the atext characters that delimit a URL's
// query (/ ? = & %), so that "?email=ann%40example.com" masks the address
// only.
var emailLike = regexp.MustCompile("[A-Za-z0-9.!#$'*+^_`{|}~-]+(?:@|%40)[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+")

// maskEmail keeps the first character of an address and its top-level
// domain: "ann@example.com" is logged as "a***@***.com".
func maskEmail(m string) string {
	tld := m[strings.LastIndexByte(m, '.')+1:]
	return m[:1] + "***@***." + tld
}

// redact masks what looks like a phone number or an email address in s.
func redact(s string) string {
	if strings.Contains(s, "@") || strings.Contains(s, "%40") {
		s = emailLike.ReplaceAllStringFunc(s, maskEmail)
	}
	if !strings.ContainsAny(s, "0123456789") {
		return s
	}
	return phoneLike.ReplaceAllStringFunc(s, func(m string) string {
		m = strings.NewReplacer("%2B", "+", "%2b", "+", "%20", " ").Replace(m)
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' || r == '+' {
				return r
			}
			return -1
		}, m)
		return twiliosms.MaskAddress(digits)
	})
}

// redactHandler masks phone numbers and email addresses in every record before passing it on.
type redactHandler struct{ next slog.Handler }

func newRedactingLogger(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(*redactHandler); ok {
		return l
	}
	return slog.New(&redactHandler{next: l.Handler()})
}

func (h *redactHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(a)
	}
	return &redactHandler{next: h.next.WithAttrs(red)}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{next: h.next.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = redactAttr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, redact(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, redact(x.String()))
		case nil:
		default:
			// Slices, maps, url.Values, structs: as they would print.
			return slog.String(a.Key, redact(fmt.Sprint(x)))
		}
	}
	return a
}
