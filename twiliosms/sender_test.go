package twiliosms

import "testing"

func TestKindOfAndDefaultRate(t *testing.T) {
	for _, tc := range []struct {
		from string
		kind SenderKind
		rate float64
	}{
		{"+14155550100", LongCode, 1},
		{"+18005550100", LongCode, 1},
		{"12345", ShortCode, 100},
		{"ACME", Alphanumeric, 10},
		{"Acme 24", Alphanumeric, 10},
		{"whatsapp:+14155550100", WhatsAppSender, 80},
	} {
		if k := KindOf(tc.from); k != tc.kind || DefaultRate(k) != tc.rate {
			t.Errorf("KindOf(%q) = %s at %v/s, want %s at %v/s", tc.from, k, DefaultRate(k), tc.kind, tc.rate)
		}
	}
}
