package twiliosms

import "github.com/smsrelay/smsrelay/internal/mask"

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
func MaskAddress(addr string) string { return mask.Address(addr) }

// errorPolicy is how this package's errors mask the numbers they quote: 7
// or more digits, after a '+' (or its URL encoding "%2B") or standing as a
// word of their own, masked with [MaskAddress] so that they keep their
// shape. Digits inside a longer word, such as a SID ("AC0123456789…") or a
// hex string, and dotted IPv4 addresses are left alone.
var errorPolicy = mask.Policy{MinDigits: 7, Bare: mask.Words, Mask: mask.KeepShape}

// maskNumbers masks every run in text that looks like a phone number (see
// errorPolicy).
func maskNumbers(text string) string { return mask.Numbers(text, errorPolicy) }
