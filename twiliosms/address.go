package twiliosms

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// WhatsAppPrefix marks a WhatsApp address such as "whatsapp:+14155550100".
const WhatsAppPrefix = "whatsapp:"

// ErrInvalidAddress is wrapped by every error [NormalizeAddress] returns.
var ErrInvalidAddress = errors.New("twiliosms: invalid address")

var (
	e164Pattern      = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	shortCodePattern = regexp.MustCompile(`^[0-9]{3,8}$`)
	// Alphanumeric sender ids: up to 11 letters, digits and spaces, at
	// least one letter.
	alphaSenderPattern = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
	hasLetter          = regexp.MustCompile(`[A-Za-z]`)
)

// NormalizeAddress returns addr as Twilio expects it:
//
//   - phone numbers in E.164 form ("(415) 555-0100" with region "US" →
//     "+14155550100"); numbers without a leading "+" are read as national
//     numbers of defaultRegion (an ISO 3166 code such as "US" or "GB"; ""
//     accepts only international numbers);
//   - "whatsapp:" addresses keep the prefix, the number after it is
//     normalised the same way;
//   - short codes (3 to 8 digits) and alphanumeric sender ids (up to 11
//     letters, digits and spaces, at least one letter) unchanged.
//
// A number is accepted when its length is possible for its country; it is
// not checked against allocated ranges, so test numbers such as
// +1 555 010 0100 pass. Errors wrap [ErrInvalidAddress] and say what was
// wrong; they show addr masked ([MaskAddress]), never whole.
func NormalizeAddress(addr, defaultRegion string) (string, error) {
	a := strings.TrimSpace(addr)
	if a == "" {
		return "", fmt.Errorf("%w: empty address", ErrInvalidAddress)
	}
	region := strings.ToUpper(defaultRegion)
	if region != "" && !phonenumbers.GetSupportedRegions()[region] {
		return "", fmt.Errorf("%w: unknown default region %q (want an ISO 3166 code such as \"US\")", ErrInvalidAddress, defaultRegion)
	}
	if n, ok := nanpFast(a); ok { // the common case; "+" rules out the other forms
		return n, nil
	}
	if IsWhatsApp(a) {
		n, err := normalizeNumberCached(strings.TrimSpace(a[len(WhatsAppPrefix):]), region)
		if err != nil {
			return "", fmt.Errorf("%w: %q: %v", ErrInvalidAddress, MaskAddress(addr), err)
		}
		return WhatsAppPrefix + n, nil
	}
	if i := strings.IndexByte(a, ':'); i > 0 {
		return "", fmt.Errorf("%w: %q: unsupported channel %q (only \"whatsapp:\" is)", ErrInvalidAddress, MaskAddress(addr), MaskAddress(a[:i+1]))
	}
	if shortCodePattern.MatchString(a) || (alphaSenderPattern.MatchString(a) && hasLetter.MatchString(a)) {
		return a, nil
	}
	n, err := normalizeNumberCached(a, region)
	if err != nil && hasLetter.MatchString(a) {
		return "", fmt.Errorf("%w: %q is neither a phone number (%v) nor an alphanumeric sender id (1 to 11 letters, digits and spaces)", ErrInvalidAddress, MaskAddress(addr), err)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidAddress, MaskAddress(addr), err)
	}
	return n, nil
}

func normalizeNumber(s, region string) (string, error) {
	if s == "" {
		return "", errors.New("no phone number")
	}
	if !strings.HasPrefix(s, "+") && region == "" {
		return "", errors.New("not an international number (+country code) and no default region given")
	}
	if strings.ContainsAny(s, "\r\n\t\x00") {
		return "", errors.New("contains control characters")
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", fmt.Errorf("not a phone number: %v", err)
	}
	if num.GetExtension() != "" {
		return "", errors.New("phone numbers with an extension cannot receive messages")
	}
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.IS_POSSIBLE:
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "", errors.New("unknown country calling code")
	case phonenumbers.TOO_SHORT:
		return "", errors.New("too short for its country")
	case phonenumbers.TOO_LONG:
		return "", errors.New("too long for its country")
	default:
		return "", errors.New("not a possible number for its country")
	}
	e := phonenumbers.Format(num, phonenumbers.E164)
	if !e164Pattern.MatchString(e) {
		return "", fmt.Errorf("cannot be written in E.164 form (got %q)", MaskAddress(e))
	}
	// A national number with leading zeros can come out in a form that
	// reads back as another number ("0000( 000-00" in AX gives
	// +35800000000, read back as +3580000000): refuse it rather than store
	// a number that changes the next time it is read.
	if back, err := phonenumbers.Parse(e, ""); err != nil || phonenumbers.Format(back, phonenumbers.E164) != e {
		return "", errors.New("has no stable E.164 form")
	}
	return e, nil
}

// IsWhatsApp reports whether addr is a WhatsApp address ("whatsapp:…",
// prefix in any case).
func IsWhatsApp(addr string) bool {
	return len(addr) >= len(WhatsAppPrefix) && strings.EqualFold(addr[:len(WhatsAppPrefix)], WhatsAppPrefix)
}

// SupportsMMS reports whether media can be sent to addr as MMS (or
// WhatsApp media): true for WhatsApp addresses and for E.164 numbers of the
// United States, Canada and Australia, where Twilio delivers MMS. Other
// numbers get media only as links (Twilio's MMS Converter) and short codes
// or sender ids cannot be told apart by country, so they report false.
// A +1 number outside every allocated range counts as US/Canada.
func SupportsMMS(addr string) bool {
	if IsWhatsApp(addr) {
		return e164Pattern.MatchString(strings.TrimSpace(addr[len(WhatsAppPrefix):]))
	}
	if !e164Pattern.MatchString(addr) {
		return false
	}
	num, err := phonenumbers.Parse(addr, "")
	if err != nil {
		return false
	}
	switch phonenumbers.GetRegionCodeForNumber(num) {
	case "US", "CA", "AU":
		return true
	case "":
		return num.GetCountryCode() == 1
	}
	return false
}

// isE164Recipient reports whether to is a number Send may address:
// E.164, optionally as a WhatsApp address.
func isE164Recipient(to string) bool {
	if IsWhatsApp(to) {
		to = to[len(WhatsAppPrefix):]
	}
	return e164Pattern.MatchString(to)
}

// validSender reports whether from is a sender Twilio could accept.
func validSender(from string) bool {
	return isE164Recipient(from) || shortCodePattern.MatchString(from) ||
		(alphaSenderPattern.MatchString(from) && hasLetter.MatchString(from))
}
