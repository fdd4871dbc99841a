package relay

import (
	"github.com/smsrelay/smsrelay/twiliosms"
)

// This file is the cost guard: what a text costs (its segments and
// encoding) is known before it is sent, and the options of [CostGuard]
// keep it down. Every text the relay sends is composed through it.

// CostGuard keeps the cost of the texts the relay sends down. Carriers
// bill an SMS per segment: 160 GSM-7 characters (153 in each segment of a
// longer text), or 70 UCS-2 characters (67) as soon as one character is
// outside GSM-7. The zero value changes nothing and only counts (see the
// smsrelay.sms.segments metric). It applies to SMS only: WhatsApp messages
// are not billed by segment and are sent as written.
type CostGuard struct {
	// Transliterate replaces the characters that silently switch a text
	// to UCS-2, and so halve the characters each segment carries (curly
	// quotes, long dashes, non-breaking and typographic spaces, the
	// ellipsis, zero-width characters; see twiliosms.ToGSM7), with GSM-7
	// look-alikes, when that makes the whole text GSM-7. A text that needs
	// UCS-2 anyway (an emoji, a letter outside GSM-7) is sent as written.
	Transliterate bool
	// MaxSegments, when positive, caps the segments of one text. A longer
	// reply is split into several texts of at most MaxSegments segments
	// each, cut at line breaks, sentence ends or spaces; with HoldOverCap
	// it is held back instead, and the agent gets a note saying why and
	// what it would cost.
	MaxSegments int
	// HoldOverCap holds back a reply longer than MaxSegments segments
	// instead of splitting it. It needs MaxSegments.
	HoldOverCap bool
}

// guardedText is a text's body as the cost guard lets it go, and what it
// costs as a whole.
type guardedText struct {
	// chunks are the bodies of the texts it goes as, in order.
	chunks []string
	// cost is what the whole body costs as one text (for SMS).
	cost twiliosms.Segments
	// held says the guard holds it back: it is longer than MaxSegments
	// and HoldOverCap is set.
	held bool
	// body is the whole text after transliteration.
	body string
}

// guard applies g to text, to be sent to the address to: transliteration
// first, then the segment cap (SMS only), then Twilio's body limit.
func (g CostGuard) guard(text, to string) guardedText {
	sms := !twiliosms.IsWhatsApp(to)
	if sms && g.Transliterate {
		if t := twiliosms.ToGSM7(text); t != text && twiliosms.CountSegments(t).Encoding == twiliosms.GSM7 {
			text = t
		}
	}
	out := guardedText{cost: twiliosms.CountSegments(text), body: text}
	capped := sms && g.MaxSegments > 0 && out.cost.Segments > g.MaxSegments
	if capped && g.HoldOverCap {
		out.held = true
		return out
	}
	out.chunks, _ = twiliosms.SplitBody(text, twiliosms.MaxBodyLength) // fails only for a limit below 2
	if !capped {
		return out
	}
	var split []string
	for _, c := range out.chunks {
		split = append(split, splitSegments(c, g.MaxSegments)...)
	}
	out.chunks = split
	return out
}

// splitSegments cuts s into pieces of at most most segments each, where a
// reader would least mind (see twiliosms.SplitBody). The room of most
// segments is measured in the units of s's encoding; a piece can still
// overrun it (an extension character costs two septets, an emoji two
// UTF-16 units, and one is never split between segments), in which case
// the room shrinks until every piece fits.
func splitSegments(s string, most int) []string {
	seg := twiliosms.CountSegments(s)
	if seg.Segments <= most {
		return []string{s}
	}
	limit := segmentRoom(seg.Encoding, most)
	for {
		pieces, _ := twiliosms.SplitBody(s, limit) // limit stays at least 2
		fits := true
		for _, p := range pieces {
			if twiliosms.CountSegments(p).Segments > most {
				fits = false
				break
			}
		}
		// At 2 units a piece is one or two characters: one segment.
		if fits || limit <= 2 {
			return pieces
		}
		limit = max(2, limit-max(1, limit/20))
	}
}

// segmentRoom is how many units of enc n segments carry.
func segmentRoom(enc twiliosms.Encoding, n int) int {
	single, multi := 160, 153
	if enc == twiliosms.UCS2 {
		single, multi = 70, 67
	}
	if n == 1 {
		return single
	}
	return multi * n
}

// firstUCS2 returns the first character of s that forces UCS-2, or "".
func firstUCS2(s string) string {
	for _, r := range s {
		if twiliosms.CountSegments(string(r)).Encoding == twiliosms.UCS2 {
			return string(r)
		}
	}
	return ""
}
