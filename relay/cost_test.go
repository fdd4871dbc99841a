package relay

import (
	"strings"
	"testing"

	"github.com/smsrelay/smsrelay/twiliosms"
)

func TestCostGuardTransliteratesOnlyWhenThatMakesGSM7(t *testing.T) {
	g := CostGuard{Transliterate: true}
	cases := []struct {
		in, want string
		enc      twiliosms.Encoding
	}{
		{"It’s ready — see you… soon", "It's ready - see you... soon", twiliosms.GSM7},
		{"“Quoted”\u00a0text", `"Quoted" text`, twiliosms.GSM7},
		// An emoji needs UCS-2 anyway: the text goes as written.
		{"It’s ready 🎉", "It’s ready 🎉", twiliosms.UCS2},
		{"Plain text", "Plain text", twiliosms.GSM7},
	}
	for _, c := range cases {
		got := g.guard(c.in, "+14155550123")
		if len(got.chunks) != 1 || got.chunks[0] != c.want || got.cost.Encoding != c.enc {
			t.Errorf("guard(%q) = %q (%s), want %q (%s)", c.in, got.chunks, got.cost.Encoding, c.want, c.enc)
		}
	}
	// Without the option, and on WhatsApp, the text is kept.
	if got := (CostGuard{}).guard("It’s", "+14155550123"); got.chunks[0] != "It’s" || got.cost.Encoding != twiliosms.UCS2 {
		t.Errorf("zero guard changed the text: %q %s", got.chunks, got.cost.Encoding)
	}
	if got := g.guard("It’s", "whatsapp:+14155550123"); got.chunks[0] != "It’s" {
		t.Errorf("guard transliterated a WhatsApp message: %q", got.chunks)
	}
}

func TestCostGuardSplitsAtTheSegmentCap(t *testing.T) {
	sentences := strings.Repeat("Your order has shipped. ", 30) // 720 GSM-7 characters: 5 segments
	uni := strings.Repeat("Ваш заказ отправлен. ", 20)          // UCS-2: 420 units, 7 segments
	ext := strings.Repeat("{a} ", 100)                          // extension characters cost 2 septets
	emoji := strings.Repeat("ok 🎉 ", 60)                        // surrogate pairs never split
	for _, tc := range []struct {
		name string
		text string
		cap  int
	}{
		{"gsm cap 1", sentences, 1}, {"gsm cap 2", sentences, 2}, {"ucs2 cap 1", uni, 1},
		{"ucs2 cap 3", uni, 3}, {"extension cap 1", ext, 1}, {"emoji cap 2", emoji, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := CostGuard{MaxSegments: tc.cap}
			got := g.guard(tc.text, "+14155550123")
			if got.held {
				t.Fatal("held without HoldOverCap")
			}
			if len(got.chunks) < 2 {
				t.Fatalf("got %d texts, want the text split", len(got.chunks))
			}
			var words []string
			for _, c := range got.chunks {
				if n := twiliosms.CountSegments(c).Segments; n > tc.cap {
					t.Errorf("text %q is %d segments, more than the cap %d", c, n, tc.cap)
				}
				words = append(words, strings.Fields(c)...)
			}
			if strings.Join(words, " ") != strings.Join(strings.Fields(tc.text), " ") {
				t.Error("the pieces do not add up to the text")
			}
		})
	}
	// Sentence boundaries are preferred.
	got := CostGuard{MaxSegments: 1}.guard(sentences, "+14155550123")
	for _, c := range got.chunks {
		if !strings.HasSuffix(c, ".") {
			t.Errorf("piece %q does not end a sentence", c)
		}
	}
	// Within the cap nothing changes.
	if got := (CostGuard{MaxSegments: 5}).guard(sentences, "+14155550123"); len(got.chunks) != 1 {
		t.Errorf("text within the cap was split into %d", len(got.chunks))
	}
}

func TestCostGuardHoldsOverCap(t *testing.T) {
	g := CostGuard{MaxSegments: 2, HoldOverCap: true}
	text := strings.Repeat("x", 400)
	got := g.guard(text, "+14155550123")
	if !got.held || got.chunks != nil || got.cost.Segments != 3 || got.cost.Encoding != twiliosms.GSM7 {
		t.Errorf("guard = %+v, want held at 3 GSM-7 segments", got)
	}
	if got := g.guard(strings.Repeat("x", 306), "+14155550123"); got.held {
		t.Error("held a text of exactly 2 segments")
	}
	// WhatsApp is not billed by segment.
	if got := g.guard(text, "whatsapp:+14155550123"); got.held {
		t.Error("held a WhatsApp message")
	}
}

func TestNoteOverCapSaysWhyAndWhatItCosts(t *testing.T) {
	n := noteOverCap(twiliosms.CountSegments(strings.Repeat("é—", 100)), 2, firstUCS2(strings.Repeat("é—", 100)))
	for _, want := range []string{"not sent by SMS", "3 segments", "at most 2", "3 times", "UCS-2", "“—”"} {
		if !strings.Contains(n, want) {
			t.Errorf("note %q lacks %q", n, want)
		}
	}
}
