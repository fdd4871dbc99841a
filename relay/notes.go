package relay

import (
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// This file holds every text the relay writes for agents to read: the
// internal notes it adds to conversations. Notes are HTML (Intercom's
// note body); everything interpolated is escaped.

// noteOptedOut: an agent's reply was held back because the customer opted
// out.
func noteOptedOut(customer, sender string) string {
	return fmt.Sprintf("<p>This reply was not sent by SMS: the customer (%s) has opted out of texts from %s. They can opt back in by texting START.</p>",
		html.EscapeString(customer), html.EscapeString(sender))
}

// noteOptChange: the customer's text opted them out (out) or back in.
func noteOptChange(word, optOutType, sender string, out bool) string {
	w := html.EscapeString(strings.TrimSpace(word))
	if w == "" {
		w = html.EscapeString(optOutType)
	}
	if out {
		return fmt.Sprintf("<p>The customer texted “%s” and has opted out of texts from %s. Replies on this conversation will not reach them by SMS until they text START.</p>",
			w, html.EscapeString(sender))
	}
	return fmt.Sprintf("<p>The customer texted “%s” and has opted back in to texts from %s.</p>", w, html.EscapeString(sender))
}

// noteDeadLetter: an agent's reply was set aside after failing for good.
func noteDeadLetter(attempts int, jobID string, cause error) string {
	return fmt.Sprintf("<p>A reply on this conversation could not be sent by SMS after %d attempts and was set aside (job %s) for an operator to replay. Last error: %s</p>",
		attempts, html.EscapeString(jobID), html.EscapeString(cause.Error()))
}

// noteOverCap: an agent's reply was held back because it is longer than
// the segment cap. char is a character that forces UCS-2, if any.
func noteOverCap(cost twiliosms.Segments, maxSegments int, char string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<p>This reply was not sent by SMS: it would go as %d segments, and this relay sends at most %d per text. Carriers bill each segment as one text, so it would cost %d times the price of one.",
		cost.Segments, maxSegments, cost.Segments)
	if cost.Encoding == twiliosms.UCS2 {
		fmt.Fprintf(&b, " It needs UCS-2, 70 characters per segment instead of 160")
		if char != "" {
			fmt.Fprintf(&b, ", because of characters such as “%s”", html.EscapeString(char))
		}
		b.WriteString(".")
	}
	fmt.Fprintf(&b, " Shorten it (%d characters), or split it into several replies, and send again.</p>", cost.Characters)
	return b.String()
}

// noteProactiveSent: the relay texted the customer first (on the contact).
func noteProactiveSent(body, from string, at time.Time) string {
	return fmt.Sprintf("<p>Texted from %s at %s:</p><blockquote>%s</blockquote>",
		html.EscapeString(from), at.UTC().Format("2006-01-02 15:04 MST"), htmlLines(body))
}

// noteBackfillSent: a text of ours imported from Twilio's message log
// (backfill.go), with its original time and, when it did not arrive, why.
func noteBackfillSent(body, from string, at time.Time, status string, errorCode, numMedia int, mediaURLs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<p>Sent by SMS from %s on %s (imported from Twilio):</p><blockquote>%s</blockquote>",
		html.EscapeString(from), at.UTC().Format("2006-01-02 15:04 MST"), htmlLines(body))
	switch {
	case numMedia > len(mediaURLs):
		fmt.Fprintf(&b, "<p>With %d attachment(s) by MMS, not imported.</p>", numMedia)
	case len(mediaURLs) > 0:
		b.WriteString("<p>With attachments by MMS:")
		for i, u := range mediaURLs {
			fmt.Fprintf(&b, ` <a href="%s">%d</a>`, html.EscapeString(u), i+1)
		}
		b.WriteString("</p>")
	}
	switch status {
	case "failed", "undelivered":
		fmt.Fprintf(&b, "<p>Twilio reported it %s", status)
		if errorCode != 0 {
			fmt.Fprintf(&b, " (error %d", errorCode)
			if d := twiliosms.Describe(errorCode); d != "" {
				fmt.Fprintf(&b, ": %s", html.EscapeString(d))
			}
			b.WriteString(")")
		}
		b.WriteString(".</p>")
	}
	return b.String()
}

// proactiveQuote is a text sent first, as the answer's note quotes it.
type proactiveQuote struct {
	body string
	at   time.Time
}

// noteProactiveAnswer: the customer's text answers a text sent first (q,
// when it could be looked up).
func noteProactiveAnswer(q *proactiveQuote) string {
	if q == nil {
		return "<p>The customer is answering a text we sent them first (what it said could not be looked up; see the notes on their profile).</p>"
	}
	return fmt.Sprintf("<p>The customer is answering this text we sent them at %s:</p><blockquote>%s</blockquote>",
		q.at.UTC().Format("2006-01-02 15:04 MST"), htmlLines(q.body))
}

// htmlLines escapes s and keeps its line breaks.
func htmlLines(s string) string {
	return strings.ReplaceAll(html.EscapeString(s), "\n", "<br>")
}

// noteReopened: after a reply failed outside WhatsApp's window, the relay
// sent the approved template contentSID (or Twilio refused it: sendErr).
func noteReopened(contentSID string, sendErr error) string {
	if sendErr != nil {
		code, _ := twiliosms.ErrorCode(sendErr)
		return fmt.Sprintf("<p>We tried to send the customer the approved WhatsApp template %s to invite them to write back, but Twilio refused it (error %d). Until they write to us, only a template reaches them.</p>",
			html.EscapeString(contentSID), code)
	}
	return fmt.Sprintf("<p>The customer last wrote more than 24 hours ago, so WhatsApp only lets an approved template through. We sent them the template %s to invite them to write back; once they answer, send your reply again.</p>",
		html.EscapeString(contentSID))
}

// noteCanvasSent: a teammate texted the customer from the Inbox app.
func noteCanvasSent(body, customer string) string {
	return fmt.Sprintf("<p>Sent by SMS to %s:</p><blockquote>%s</blockquote><p>Their answer will appear in this conversation.</p>",
		html.EscapeString(customer), htmlLines(body))
}

// Openings of noteFailure.
const (
	failedNotSent      = "This reply was not sent by SMS"
	failedUndelivered  = "This reply was not delivered by SMS"
	failedCouldNotSend = "This reply could not be sent by SMS"
	// Of a text sent first (Relay.Send).
	failedFirstUndelivered  = "A text we sent this customer first was not delivered"
	failedFirstCouldNotSend = "A text we sent this customer first could not be sent"
	// Of a text sent from the Inbox app.
	failedCanvasNotSent = "This text was not sent by SMS"
)

// noteFailure: a text did not go out, with Twilio's error code, what it
// means and Twilio's own message when there is one.
func noteFailure(what string, code int, twilioMessage string) string {
	var b strings.Builder
	b.WriteString("<p>")
	b.WriteString(html.EscapeString(what))
	if code != 0 {
		fmt.Fprintf(&b, ": Twilio error %d", code)
		if d := twiliosms.Describe(code); d != "" {
			b.WriteString(" (" + html.EscapeString(d) + ")")
		}
		fmt.Fprintf(&b, `. See https://www.twilio.com/docs/errors/%d`, code)
	} else if twilioMessage == "" {
		b.WriteString(": Twilio refused it")
	}
	if twilioMessage != "" {
		b.WriteString(". Twilio says: " + html.EscapeString(twilioMessage))
	}
	b.WriteString(".</p>")
	return b.String()
}

// noteAgentAnswer: what a paged agent texted back, as a note authored by
// them.
func noteAgentAnswer(body, phone string) string {
	return fmt.Sprintf("<p>Texted from %s in answer to a page:</p><blockquote>%s</blockquote>",
		html.EscapeString(phone), htmlLines(body))
}

// notePageAcknowledged: the page sent at sentAt to phone (admin adminID,
// or an on-call number when "") was acknowledged by a text at at.
func notePageAcknowledged(adminID, phone string, sentAt, at time.Time) string {
	who := "the on-call number " + html.EscapeString(phone)
	if adminID != "" {
		who = "admin " + html.EscapeString(adminID) + " at " + html.EscapeString(phone)
	}
	return fmt.Sprintf("<p>The page sent to %s at %s was acknowledged by SMS at %s. This conversation is not paged again until the customer writes again.</p>",
		who, sentAt.UTC().Format("2006-01-02 15:04 MST"), at.UTC().Format("2006-01-02 15:04 MST"))
}

// Identity bridge (identity.go).

// failedIdentityNotSent opens the note of a prompt Twilio refused, and
// failedIdentityUndelivered that of a prompt not delivered.
const (
	failedIdentityNotSent     = "We could not ask this customer for their email address by SMS"
	failedIdentityUndelivered = "Our text asking this customer for their email address was not delivered"
)

// noteIdentityAsked: the relay asked the customer for their email.
func noteIdentityAsked(prompt, from string) string {
	by := ""
	if from != "" {
		by = " from " + html.EscapeString(from)
	}
	return fmt.Sprintf("<p>Intercom does not know this number, so we asked the customer by SMS%s for their email address:</p><blockquote>%s</blockquote><p>Their next text is read as the answer; they are not asked again.</p>",
		by, htmlLines(prompt))
}

// noteIdentityNoEmail: the answer to the prompt holds no email address.
func noteIdentityNoEmail() string {
	return "<p>The customer's answer to our question about their email address holds no address. The number stays a lead and is not asked again.</p>"
}

// noteIdentityUnasked ends a note about an answer that was not a reply to
// the prompt (kind), saying so: "" for a reply to the prompt.
func noteIdentityUnasked(kind answerKind) string {
	switch kind {
	case answerUnasked:
		return "<p>The customer gave this address without being asked, so we did not ask them for it, and will not.</p>"
	case answerCrossed:
		return "<p>The customer gave this address in a text sent before our question reached them; their next text is not read as an answer.</p>"
	}
	return ""
}

// noteIdentityNotSearched: Intercom refused the search by email.
func noteIdentityNotSearched(email string) string {
	return fmt.Sprintf("<p>The customer says their email address is %s, but Intercom refused to search contacts by email, so the number stays a lead. Look the address up and merge by hand if it is theirs.</p>",
		html.EscapeString(email))
}

// noteIdentityNoUser: no Intercom user has the address the customer gave.
func noteIdentityNoUser(email string, leads int) string {
	also := ""
	if leads > 0 {
		also = fmt.Sprintf(" (%d lead(s) have it)", leads)
	}
	return fmt.Sprintf("<p>The customer says their email address is %s, but no Intercom user has it%s. The number stays a lead; nothing was merged or created. Decide whether it is theirs.</p>",
		html.EscapeString(email), also)
}

// who names a contact for a note: their name and email, with a link to
// their profile when there is one.
func who(c intercom.Contact, link string) string {
	name := strings.TrimSpace(c.Name)
	s := html.EscapeString(c.Email)
	if name != "" {
		s = html.EscapeString(name) + " (" + s + ")"
	}
	if link != "" {
		s = `<a href="` + html.EscapeString(link) + `">` + s + `</a>`
	}
	return s
}

// noteIdentityMerged: the lead leadID was merged into user, whose email
// the customer gave; leadID "" when the number was already theirs.
func noteIdentityMerged(user intercom.Contact, leadID, email, link string) string {
	if leadID == "" {
		return fmt.Sprintf("<p>The customer says their email address is %s: this number already belongs to %s.</p>",
			html.EscapeString(email), who(user, link))
	}
	return fmt.Sprintf("<p>This number now belongs to %s: the customer gave %s as their email address by SMS, and the lead %s was merged into that user. The address was not verified.</p>",
		who(user, link), html.EscapeString(email), html.EscapeString(leadID))
}

// noteIdentityLinked: the customer gave user's email, but the lead was not
// merged (why says why).
func noteIdentityLinked(user intercom.Contact, email, link, why string) string {
	return fmt.Sprintf("<p>The customer says their email address is %s, which belongs to the user %s. The number stays a lead: %s. If they are the same person, merge the lead into the user in Intercom. The address was not verified.</p>",
		html.EscapeString(email), who(user, link), html.EscapeString(why))
}

// noteIdentityOtherUser: the customer gave user's email, but the number's
// contact is already another user, current (an agent merged the lead into
// it); nothing was merged.
func noteIdentityOtherUser(user, current intercom.Contact, email, link, currentLink string) string {
	return fmt.Sprintf("<p>The customer says their email address is %s, which belongs to the user %s, but this number already belongs to the user %s. Nothing was merged. If the number is theirs, move it in Intercom. The address was not verified.</p>",
		html.EscapeString(email), who(user, link), who(current, currentLink))
}
