package twiliosms_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/smsrelay/smsrelay/twiliosms"
)

func TestNormalizeAddress(t *testing.T) {
	for _, tc := range []struct {
		in, region string
		want       string
		err        string
	}{
		{"+14155550100", "", "+14155550100", ""},
		{" +1 (415) 555-0100 ", "", "+14155550100", ""},
		{"(415) 555-0100", "US", "+14155550100", ""},
		{"415.555.0100", "us", "+14155550100", ""},
		{"07700 900123", "GB", "+447700900123", ""},
		{"+44 7700 900123", "US", "+447700900123", ""},
		{"0044 7700 900123", "FR", "+447700900123", ""},
		{"06 12 34 56 78", "FR", "+33612345678", ""},
		{"whatsapp:+14155550100", "", "whatsapp:+14155550100", ""},
		{"whatsapp:(415) 555-0100", "US", "whatsapp:+14155550100", ""},
		{"WhatsApp:+44 7700 900123", "", "whatsapp:+447700900123", ""},
		{"12345", "US", "12345", ""},           // short code
		{"898", "", "898", ""},                 // short code
		{"22395000", "", "22395000", ""},       // 8-digit short code
		{"ACME", "", "ACME", ""},               // alphanumeric sender id
		{"Acme Corp 1", "", "Acme Corp 1", ""}, // 11 chars with spaces
		{"", "US", "", "empty"},
		{"   ", "US", "", "empty"},
		{"4155550100", "", "", "no default region"},
		{"4155550100", "XX", "", "unknown default region"},
		{"+1 415", "", "", "too short"},
		{"+1 415 555 0100 12345", "", "", "too long"},
		{"+999 1234567", "", "", "country"},
		{"whatsapp:", "", "", "no phone number"},
		{"whatsapp:12345", "", "", "no default region"},
		{"sms:+14155550100", "", "", "unsupported channel"},
		{"Acme Corporation", "", "", "neither a phone number"},
		{"Acme Corporation", "US", "", "nor an alphanumeric sender id"},
		{"1-800-FLOWERS", "US", "+18003569377", ""},
		{"+1 415 555 0100 ext. 12", "", "", "extension"},
		{"+1415555\n0100", "", "", "control"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := twiliosms.NormalizeAddress(tc.in, tc.region)
			if tc.err != "" {
				if !errors.Is(err, twiliosms.ErrInvalidAddress) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want ErrInvalidAddress mentioning %q, got %q, %v", tc.err, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
			// Normalising is idempotent.
			again, err := twiliosms.NormalizeAddress(got, "")
			if err != nil || again != got {
				t.Fatalf("second pass: %q, %v", again, err)
			}
		})
	}
}

func TestIsWhatsAppAndSupportsMMS(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		whatsapp bool
		mms      bool
	}{
		{"+14155550100", false, true},   // US
		{"+12025550123", false, true},   // US
		{"+14165550123", false, true},   // Canada (Toronto)
		{"+61412345678", false, true},   // Australia
		{"+18765550123", false, false},  // Jamaica shares +1 but is not US/CA
		{"+447700900123", false, false}, // UK
		{"+33612345678", false, false},  // France
		{"whatsapp:+447700900123", true, true},
		{"WHATSAPP:+14155550100", true, true},
		{"whatsapp:", true, false},
		{"12345", false, false},
		{"ACME", false, false},
		{"", false, false},
		{"(415) 555-0100", false, false}, // not normalised
	} {
		if got := twiliosms.IsWhatsApp(tc.addr); got != tc.whatsapp {
			t.Errorf("IsWhatsApp(%q) = %v", tc.addr, got)
		}
		if got := twiliosms.SupportsMMS(tc.addr); got != tc.mms {
			t.Errorf("SupportsMMS(%q) = %v", tc.addr, got)
		}
	}
}
