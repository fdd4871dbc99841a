package relay

import "testing"

func TestOptOutChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		optOutType, body string
		whatsApp         bool
		want             int
	}{
		{"", "STOP", false, 1},
		{"", "stop", false, 1},
		{"", " Stop. ", false, 1},
		{"", "unsubscribe", false, 1},
		{"", "STOPALL", false, 1},
		{"", "cancel", false, 1},
		{"", "end", false, 1},
		{"", "quit", false, 1},
		{"", "optout", false, 1},
		{"", "revoke", false, 1},
		{"", "START", false, -1},
		{"", "yes", false, -1},
		{"", "unstop", false, -1},
		{"", "stop please", false, 0},
		{"", "please stop texting me", false, 0},
		{"", "HELP", false, 0},
		{"", "hello", false, 0},
		{"STOP", "arrête", false, 1},
		{"START", "reprendre", false, -1},
		{"HELP", "STOP", false, 0},
		{"", "STOP", true, 0},
		{"", "cancel", true, 0},
		{"STOP", "whatever", true, 1},
	}
	for _, tt := range tests {
		if got := optOutChange(tt.optOutType, tt.body, tt.whatsApp); got != tt.want {
			t.Errorf("optOutChange(%q, %q, %v) = %d, want %d", tt.optOutType, tt.body, tt.whatsApp, got, tt.want)
		}
	}
}

func TestRelayable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		partType, authorType, body string
		attachments                bool
		want                       bool
	}{
		{"comment", "admin", "hi", false, true},
		{"comment", "admin", "", true, true},
		{"note", "admin", "internal", false, false},
		{"note", "admin", "", true, false},
		{"comment", "bot", "I'm Fin", false, false},
		{"comment", "user", "echo", false, false},
		{"comment", "lead", "echo", false, false},
		{"comment", "contact", "echo", false, false},
		{"comment", "team", "hi", false, false},
		{"quick_reply", "bot", "pick one", false, false},
		{"close", "admin", "Refund issued. Goodbye!", false, true},
		{"close", "admin", "", false, false},
		{"close", "admin", "  ", false, false},
		{"close", "bot", "Closing", false, false},
		{"assignment", "admin", "Billing will text you", false, true},
		{"assignment", "admin", "", false, false},
		{"open", "admin", "Re-opening: one more thing", false, true},
		{"open", "user", "customer reopened", false, false},
		{"snoozed", "admin", "", false, false},
		{"conversation_attribute_updated_by_admin", "admin", "x", false, false},
		{"", "admin", "x", false, false},
	}
	for _, tt := range tests {
		if got := relayable(tt.partType, tt.authorType, tt.body, tt.attachments); got != tt.want {
			t.Errorf("relayable(%q, %q, %q, %v) = %v, want %v", tt.partType, tt.authorType, tt.body, tt.attachments, got, tt.want)
		}
	}
}
