package relay

import (
	"strings"

	"github.com/smsrelay/smsrelay/twiliosms"
)

// This file holds the rules of what may leave by SMS: which conversation
// parts an agent meant the customer to read, what of them becomes the
// text, and which texts from the customer opt them out or back in. The
// webhook handler and the worker both apply relayable; nothing else
// decides what reaches a phone.

// relayable is the rule for what may reach a customer's phone: what a
// teammate wrote for the customer to read. That is a comment, or the
// message an admin attaches to closing, re-opening or assigning a
// conversation (Intercom shows it to the customer too). Never a note, never
// a bot, Fin or operator part, never the customer's own parts, never an
// empty state change.
func relayable(partType, authorType, body string, hasAttachments bool) bool {
	if authorType != "admin" {
		return false
	}
	switch partType {
	case "comment":
		return true
	case "close", "open", "assignment":
		return strings.TrimSpace(body) != "" || hasAttachments
	}
	return false
}

// outgoing is what an agent's part becomes on the customer's phone: the
// bodies of one or more texts, and the media of the first; or, when the
// cost guard holds it back, what it would cost.
type outgoing struct {
	chunks []string
	media  []string
	cost   twiliosms.Segments
	held   bool
	body   string // the whole text, as the cost guard lets it go
}

// composeReply turns a relayable part into texts to customer: its body as
// plain text, attachments as MMS media where the customer's number takes
// them (up to Twilio's limit) and as links otherwise, through the cost
// guard g, split into texts Twilio accepts. It reports false when there is
// nothing to send.
func composeReply(p part, customer string, g CostGuard) (outgoing, bool) {
	text := SMSText(p.Body)
	var out outgoing
	for _, a := range p.Attachments {
		if a.URL == "" {
			continue
		}
		if twiliosms.SupportsMMS(customer) && len(out.media) < twiliosms.MaxMedia {
			out.media = append(out.media, a.URL)
			continue
		}
		link := a.URL
		if a.Name != "" {
			link = a.Name + ": " + a.URL
		}
		text = strings.TrimSpace(text + "\n" + link)
	}
	if text == "" && len(out.media) == 0 {
		return out, false
	}
	gt := g.guard(text, customer)
	out.chunks, out.cost, out.held, out.body = gt.chunks, gt.cost, gt.held, gt.body
	if out.held {
		return out, true
	}
	if len(out.chunks) == 0 {
		out.chunks = []string{""} // media only
	}
	return out, true
}

// Opt-out and opt-in keywords, as Twilio handles them on long codes and
// toll-free numbers: the whole message is the keyword.
var (
	optOutKeywords = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
	optInKeywords  = []string{"START", "YES", "UNSTOP"}
)

// optOutChange says whether a text opts the customer out (+1), back in (-1),
// or neither (0). Twilio's OptOutType, set by Advanced Opt-Out, wins over
// the keyword lists, which apply to SMS only: Twilio does not filter STOP on
// WhatsApp, where "Cancel" or "End" is just a word.
func optOutChange(optOutType, body string, whatsApp bool) int {
	switch strings.ToUpper(optOutType) {
	case "STOP":
		return 1
	case "START":
		return -1
	case "HELP":
		return 0
	}
	if whatsApp {
		return 0
	}
	word := strings.ToUpper(strings.Trim(strings.TrimSpace(body), ".!"))
	for _, k := range optOutKeywords {
		if word == k {
			return 1
		}
	}
	for _, k := range optInKeywords {
		if word == k {
			return -1
		}
	}
	return 0
}

// pageLineMax bounds the customer's line a page quotes.
const pageLineMax = 100

// pageText is the text that pages an agent: the customer, masked (their
// number never leaves in full), the first line of what they wrote, at most
// pageLineMax characters, and the link to the conversation. why says what
// triggered it. Its own words are GSM-7, so that a page costs as few
// segments as the customer's line allows.
func pageText(why, customer, body, link string) string {
	line := strings.TrimSpace(SMSText(body))
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	if r := []rune(line); len(r) > pageLineMax {
		line = string(r[:pageLineMax-3]) + "..."
	}
	return why + ": " + twiliosms.MaskAddress(customer) + " wrote \"" + line + "\"\n" + link + "\nReply to this number to acknowledge."
}
