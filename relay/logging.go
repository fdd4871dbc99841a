package relay

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/smsrelay/smsrelay/internal/mask"
)

// The relay's logs never carry a full phone number or email address,
// whatever path a value takes to them: addresses are logged masked (twiliosms.MaskAddress), and every log
// record also passes through redactHandler, which masks anything shaped
// like a phone number or an email address in the message, in string values
// and in errors (an error may quote a request URL or a vendor's message
// naming the number or the address the identity bridge searched for).
// Message bodies are never logged.

// logPolicy is how logs mask phone numbers: an international number (+,
// or %2B in a URL, and 7 digits or more, maybe with separators), or a North
// American number written with separators, logged as twiliosms.MaskAddress
// masks it once its separators are gone ("+141******23"). Bare digit runs
// are left alone: Intercom's ids are long digit runs too.
var logPolicy = mask.Policy{MinDigits: 7, Bare: mask.NANP, Mask: mask.Compact}

// redact masks what looks like a phone number or an email address in s.
func redact(s string) string {
	return mask.Numbers(mask.Emails(s), logPolicy)
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
