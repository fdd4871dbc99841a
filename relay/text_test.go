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
