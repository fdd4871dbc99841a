package twiliosms

import (
	"strings"
	"unicode"
)

// SenderKind is the kind of a From address, which sets how fast Twilio
// sends from it.
type SenderKind string

// Kinds of sender.
const (
	// LongCode is a phone number in E.164 form (local or toll-free).
	LongCode SenderKind = "long_code"
	// ShortCode is a 5- or 6-digit short code.
	ShortCode SenderKind = "short_code"
	// Alphanumeric is an alphanumeric sender ID such as "ACME".
	Alphanumeric SenderKind = "alphanumeric"
	// WhatsAppSender is a "whatsapp:+..." address.
	WhatsAppSender SenderKind = "whatsapp"
)

// KindOf tells the kind of the sender from.
func KindOf(from string) SenderKind {
	switch {
	case IsWhatsApp(from):
		return WhatsAppSender
	case strings.HasPrefix(from, "+"):
		return LongCode
	case strings.IndexFunc(from, unicode.IsLetter) >= 0:
		return Alphanumeric
	}
	return ShortCode
}

// DefaultRate is how many messages per second Twilio sends from one sender
// of kind k by default: 1 on a long code, 10 from an alphanumeric sender
// ID, 100 on a short code, 80 on WhatsApp. Messages sent faster wait in
// Twilio's queue, which holds up to 4 hours' worth before refusing them
// (error 30001); accounts can have higher rates.
func DefaultRate(k SenderKind) float64 {
	switch k {
	case ShortCode:
		return 100
	case Alphanumeric:
		return 10
	case WhatsAppSender:
		return 80
	}
	return 1
}
