package relay

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSMSText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"plain text stays", "Hello there", "Hello there"},
		{"plain text keeps lines", "line one\nline two", "line one\nline two"},
		{"plain text with less-than", "a < b and <3", "a < b and <3"},
		{"plain text with ampersand", "Tom & Jerry", "Tom & Jerry"},
		{"plain text with an address in brackets", "Email <billing@example.com> with the receipt", "Email <billing@example.com> with the receipt"},
		{"plain text with a code in brackets", "Reply with <ABC123> please", "Reply with <ABC123> please"},
		{"plain text with an unknown tag-like word", "Press <enter> twice", "Press <enter> twice"},
		{"paragraph", "<p>Okay!</p>", "Okay!"},
		{"two paragraphs", "<p>Hi Ann,</p><p>Your order shipped.</p>", "Hi Ann,\n\nYour order shipped."},
		{"line break", "<p>one<br>two<br/>three</p>", "one\ntwo\nthree"},
		{"entities", "<p>Fish &amp; chips &lt;3 &quot;yum&quot; caf&eacute;</p>", "Fish & chips <3 \"yum\" café"},
		{"entity only", "Fish &amp; chips", "Fish & chips"},
		{"bold and italics vanish", "<p>This is <b>very</b> <i>important</i></p>", "This is very important"},
		{"link with text", `<p>See <a href="https://example.com/help">our help page</a>.</p>`, "See our help page (https://example.com/help)."},
		{"bare link", `<p><a href="https://example.com">https://example.com</a></p>`, "https://example.com"},
		{"mailto link", `<a href="mailto:a@example.com">a@example.com</a>`, "a@example.com"},
		{"bullet list", "<p>Steps:</p><ul><li>Restart</li><li>Log in</li></ul>", "Steps:\n\n- Restart\n- Log in"},
		{"ordered list", "<ol><li>First</li><li>Second</li></ol>", "1. First\n2. Second"},
		{"nested list", "<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>", "- a\n  - b\n- c"},
		{"image", `<p>Here:</p><img src="https://example.com/a.png" alt="receipt">`, "Here:\n\nreceipt (https://example.com/a.png)"},
		{"script dropped", "<p>Hi</p><script>alert(1)</script><style>p{}</style>", "Hi"},
		{"whitespace folded", "<p>  lots   of\n\n   space  </p>", "lots of space"},
		{"nbsp", "<p>a&nbsp;b</p>", "a b"},
		{"intercom no-margin class", `<p class="no-margin">Thanks!</p><p class="no-margin">Bye</p>`, "Thanks!\n\nBye"},
		{"headings", "<h2>Title</h2><p>text</p>", "Title\n\ntext"},
		{"pre keeps spacing", "<pre>a  b\n  c</pre>", "a  b\n  c"},
		{"div lines", "<div>one</div><div>two</div>", "one\ntwo"},
		{"empty", "", ""},
		{"empty paragraph", "<p></p>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SMSText(tt.in); got != tt.want {
				t.Errorf("SMSText(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzSMSText(f *testing.F) {
	for _, s := range []string{"", "hi", "<p>a<br>b</p>", "<ul><li>x</li></ul>", "<a href='u'>t</a>", "&amp;", "<", "<pre>\n</pre>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := SMSText(in)
		if utf8.ValidString(in) && !utf8.ValidString(out) {
			t.Fatalf("SMSText(%q) produced invalid UTF-8 %q", in, out)
		}
		if out != strings.TrimSpace(out) {
			t.Fatalf("SMSText(%q) = %q is not trimmed", in, out)
		}
		if strings.Contains(out, "\n\n\n") {
			t.Fatalf("SMSText(%q) = %q has more than one blank line in a row", in, out)
		}
	})
}

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

func TestSplitText(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("word ", 700) // 3500 characters
	parts := splitText(long, 1600)
	if len(parts) != 3 {
		t.Fatalf("got %d parts, want 3", len(parts))
	}
	var total int
	for _, p := range parts {
		if n := utf8.RuneCountInString(p); n > 1600 {
			t.Errorf("part of %d characters exceeds 1600", n)
		}
		if strings.HasPrefix(p, "ord") {
			t.Errorf("part %q starts mid-word", p[:10])
		}
		total += len(strings.Fields(p))
	}
	if total != 700 {
		t.Errorf("parts hold %d words, want 700", total)
	}
	if got := splitText("short", 1600); len(got) != 1 || got[0] != "short" {
		t.Errorf("splitText(short) = %q", got)
	}
	emoji := strings.Repeat("😀", 2000)
	for _, p := range splitText(emoji, 1600) {
		if !utf8.ValidString(p) || utf16Len(p) > 1600 {
			t.Errorf("emoji split broke a rune or the limit")
		}
	}
}

func TestMaskAddr(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"+15551234567":          "+155******67",
		"whatsapp:+15551234567": "whatsapp:+155******67",
		"12345":                 "*****",
		"+4412345":              "+4****45",
	}
	for in, want := range tests {
		if got := maskAddr(in); got != want {
			t.Errorf("maskAddr(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(maskAddr(in), "1234567") {
			t.Errorf("maskAddr(%q) leaks the number", in)
		}
	}
}
