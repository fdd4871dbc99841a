package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// This file is the identity bridge (Config.Identity): a customer texting
// from a number Intercom knows only as an anonymous lead is asked, once,
// for their email address; their next text is the answer. A text that
// gives an address before it was asked for (givenEmail: the text's only
// address) is the answer instead, and no prompt goes out. An address that
// belongs to an Intercom user attaches the number to that user: the lead is
// merged into the user (Intercom's POST /contacts/merge), or, where Intercom
// refuses the merge, kept and linked to the user by a note. The agents read
// every step in internal notes on the conversation.
//
// The state of a number (bare E.164, whatever the channel) lives in store
// markers (keys.go), so that replicas agree:
//
//   - identity-done: never asked (again). Set once the number answered (with
//     or without an address), opted out or in, could not be sent the
//     prompt, or turned out to belong to a known contact (a user, or a lead
//     with an email).
//   - identity-asked: the prompt was sent; the next text from the number is
//     the answer, whenever it comes, unless it reached the relay before the
//     prompt went out (a store.Message, identityAskedRecordSID, holds when).
//   - identity-claim (per customer text): this text holds the period's
//     claim and may send the prompt, also after going back to the queue to
//     wait for the sender's pace; or, when it gives an address, it is the
//     answer (recorded before the period's claim is taken, so that a retry
//     that finds the lead merged meanwhile still reads it).
//   - identity-prompt (store.MarkSeen, for IdentityBridge.Period): at most
//     one prompt per number per period, even where the markers above are
//     gone (a store that expires records).
//
// Every side effect goes through once (effect.go): the prompt (looked for in
// Twilio's list of recent texts), the merge (looked for by reading the lead,
// which after a merge resolves to the user or is gone) and each note (looked
// for among the conversation's parts).

// DefaultIdentityPrompt is the text that asks for the customer's email
// unless IdentityBridge.Prompt says otherwise.
const DefaultIdentityPrompt = "Thanks for your message! So that we can find your account, what email address do you use with us? Reply with it, or ignore this message."

// DefaultIdentityPeriod is IdentityBridge.Period unless set.
const DefaultIdentityPeriod = 30 * 24 * time.Hour

// minIdentityPeriod bounds IdentityBridge.Period from below.
const minIdentityPeriod = time.Hour

// maxPromptWait is how long a job waits in a worker for its prompt's slot
// of the sender's pace; a longer wait puts the job back (jobs.Defer) until
// then instead of holding the worker.
const maxPromptWait = 100 * time.Millisecond

// slotTTL is how long an unused slot reservation is kept: a job deferred
// for its slot that ran elsewhere (another replica) never comes back for it.
const slotTTL = time.Hour

// IdentityBridge asks customers who text from a number Intercom knows
// only as a lead without an email for their email address, and attaches the
// number to the Intercom user with that address. See [Config.Identity].
//
// Who is asked: the customer's contact is a lead without an email (the
// relay created it for the number, or found only such a lead), the text
// came by SMS from a phone number (not WhatsApp, not a short code or an
// alphanumeric sender), the number has not opted out, and the text is not
// itself an opt-out or opt-in. The first such text is answered once with
// Prompt; a contact that is a user, or a lead with an email, is never
// asked.
//
// Not asking for what was said: such a text that already gives an email
// address ("hi it's ann@example.com, my order is late") is read as the
// answer, below, and no prompt is sent, then or later, also when no user
// has the address. So is a text that gives one and crossed the prompt
// (sent before the prompt reached the customer); the text after it is then
// not the answer. A text with two different addresses gives none (which is
// the customer's is theirs to say): it is asked as usual.
//
// The answer: the next text from the number received after the prompt
// went out, whenever it comes and on any channel, is the answer, and the
// number is never asked again, whatever it says. Its first email address
// (of a text that gives one unasked: its only one) is looked up among
// Intercom's contacts; the most recently updated user with that address
// wins. The lead is merged into that user; where Intercom
// refuses (see SkipDuplicateValidation), the lead is kept and the agents get
// a note naming the user. An address no user has gets a note saying so; the
// relay never creates users. An answer without an address, STOP or START
// gets a note (STOP and START: the usual opt-out note) and nothing else.
// The answer is posted to the conversation like every text.
//
// What is read as an address: what people type, such as "it's
// Ann.Lee+shop@Example.co.uk.", "<ann@example.com>",
// "mailto:ann@example.com", "email=ann@example.com" or a full-width "＠",
// in lower case; not an address spelled out ("ann at example dot com"), one
// without a dot in its domain, a domain in non-ASCII letters (its xn-- form
// is read), a quoted local part, or one holding / = ? # ! { or | (what
// follows the last of them is read: they are taken for the prose or link
// around the address).
type IdentityBridge struct {
	// Prompt is the text that asks for the email, sent through the cost
	// guard (Config.Cost) and the sender's pace (Config.SendRate). It must
	// go as one text. Default: DefaultIdentityPrompt.
	Prompt string
	// Period bounds the prompts: at most one per number per Period, even
	// if the relay's records of the number are lost. An address given
	// unasked counts as the period's prompt: none follows it within the
	// period. At least an hour.
	// Default: DefaultIdentityPeriod (30 days).
	Period time.Duration
	// SkipDuplicateValidation merges the lead into the user even though
	// they share no email and no phone number, on the strength of the
	// address the customer typed. Intercom merges only duplicates by
	// default, and a lead known by its phone number and a user known by
	// their email seldom are: without this, most answers end in a note
	// linking the lead to the user, and an agent merges by hand.
	//
	// It applies to the answer to the prompt only. An address a text
	// gives unasked (or that crossed the prompt) may be someone else's
	// ("please copy accounts@example.com"): its merge keeps Intercom's
	// check, which usually refuses it, and a note links the lead to the
	// user instead.
	//
	// The address is not verified: anyone can type anyone's address. With
	// this set, a stranger who answers the prompt with a customer's
	// address joins that customer's contact, and agents see the customer's
	// history beside the stranger's texts. Set it only where that risk is
	// acceptable.
	SkipDuplicateValidation bool
	// WorkspaceID is the Intercom workspace (app) id; with it, notes link
	// to the user's profile in Intercom. Default: no link.
	WorkspaceID string
}

// IdentityAPI is the part of Intercom's API the identity bridge needs
// beyond [IntercomAPI]. *intercom.Client has it. [Config.Identity]
// requires an IntercomAPI that is an IdentityAPI and a [ContactReader].
type IdentityAPI interface {
	SearchContactsByEmail(ctx context.Context, email string) ([]intercom.Contact, error)
	MergeContacts(ctx context.Context, from, into string) (*intercom.Contact, error)
	MergeContactsSkippingValidation(ctx context.Context, from, into string) (*intercom.Contact, error)
}

// withDefaults validates b and returns a copy with its defaults, or nil
// when the bridge is off.
func (b *IdentityBridge) withDefaults(cost CostGuard, api IntercomAPI, add func(string, ...any)) *IdentityBridge {
	if b == nil {
		return nil
	}
	c := *b
	if c.Prompt = strings.TrimSpace(c.Prompt); c.Prompt == "" {
		c.Prompt = DefaultIdentityPrompt
	}
	if g := cost.guard(c.Prompt, "+14155550100"); g.held || len(g.chunks) != 1 {
		add("Identity.Prompt must go as one text: it is %d characters, %d %s segments (Cost.MaxSegments %d)",
			g.cost.Characters, g.cost.Segments, g.cost.Encoding, cost.MaxSegments)
	}
	switch {
	case c.Period < 0:
		add("Identity.Period must not be negative")
	case c.Period == 0:
		c.Period = DefaultIdentityPeriod
	case c.Period < minIdentityPeriod:
		add("Identity.Period must be at least %v", minIdentityPeriod)
	}
	if c.WorkspaceID = strings.TrimSpace(c.WorkspaceID); strings.ContainsAny(c.WorkspaceID, " /?#%\t\r\n") {
		add("Identity.WorkspaceID %q is not a workspace id", c.WorkspaceID)
	}
	if api != nil {
		_, ident := api.(IdentityAPI)
		_, reader := api.(ContactReader)
		if !ident || !reader {
			add("Identity needs an Intercom client that is a relay.IdentityAPI and a relay.ContactReader, as *intercom.Client is")
		}
	}
	return &c
}

// identify runs the identity bridge for a customer's text that is on
// conversation d.convID: it sends the prompt, or reads the answer.
func (r *Relay) identify(ctx context.Context, key store.ThreadKey, in inboundJob, d delivery, optChange int) error {
	if r.cfg.Identity == nil || r.ic.ident == nil || r.ic.reader == nil {
		return nil
	}
	phone := bareNumber(key.Customer)
	done, err := r.st.Marked(ctx, string(markIdentityDone(phone)))
	if err != nil {
		return fmt.Errorf("relay: identity bridge: reading the record: %w", err)
	}
	if done {
		return nil
	}
	asked, err := r.st.Marked(ctx, string(markIdentityAsked(phone)))
	if err != nil {
		return fmt.Errorf("relay: identity bridge: reading the record: %w", err)
	}
	if asked {
		// A retry of the text that set the prompt off is not its answer.
		prompted, err := r.st.Marked(ctx, string(markUnsureIdentityPrompt(in.MessageSID)))
		if err != nil {
			return fmt.Errorf("relay: identity bridge: reading the record: %w", err)
		}
		if !prompted {
			crossed, err := r.crossedPrompt(ctx, phone, in.ReceivedAt)
			switch {
			case err != nil:
				return err
			case crossed && optChange != 0:
				return r.identityEnd(ctx, phone, "opted")
			case crossed:
				// Sent before the prompt reached the customer: not the
				// answer, and the next text is, unless it gives an
				// address already.
				if _, ok := givenEmail(in.Body); ok {
					return r.identityAnswer(ctx, key, in, d, optChange, answerCrossed)
				}
				return nil
			}
			return r.identityAnswer(ctx, key, in, d, optChange, answerToPrompt)
		}
	}
	return r.identityPrompt(ctx, key, in, d, optChange)
}

// answerKind says why a customer's text is read as the answer.
type answerKind int

const (
	// answerToPrompt: the number's first text after the prompt went out.
	answerToPrompt answerKind = iota
	// answerUnasked: a text that gives an address from a number the
	// bridge would ask; no prompt is sent.
	answerUnasked
	// answerCrossed: a text that gives an address and crossed the prompt
	// (sent before it reached the customer).
	answerCrossed
)

// identityUnasked reads the address a customer's text gives before they
// were asked for it (givenEmail) as the answer: no prompt goes out. The
// text records that it is the answer (its claim) before anything else, so
// that a retry reads it again whatever the lead has become meanwhile; then
// it takes the period's claim, so that no prompt follows within the
// period even where the store loses the bridge's markers.
func (r *Relay) identityUnasked(ctx context.Context, key store.ThreadKey, in inboundJob, d delivery, claimed bool) error {
	if !claimed {
		mctx, cancel := detached(ctx)
		err := r.st.Mark(mctx, string(markIdentityClaim(in.MessageSID)))
		cancel()
		if err != nil {
			return fmt.Errorf("relay: identity bridge: recording the answer: %w", err)
		}
	}
	// Taken or found taken (by this text's earlier attempt, or by a prompt
	// the store forgot): either way no prompt goes out within the period.
	if _, err := r.st.MarkSeen(ctx, seenIdentityPrompt(bareNumber(key.Customer)), r.cfg.Identity.Period); err != nil {
		return fmt.Errorf("relay: identity bridge: recording the answer: %w", err)
	}
	return r.identityAnswer(ctx, key, in, d, 0, answerUnasked)
}

// identityPrompt asks the customer for their email, once, when they may be
// asked.
func (r *Relay) identityPrompt(ctx context.Context, key store.ThreadKey, in inboundJob, d delivery, optChange int) error {
	b := r.cfg.Identity
	phone := bareNumber(key.Customer)
	log := r.log.With("message", in.MessageSID, "from", twiliosms.MaskAddress(key.Customer))
	msg := twiliosms.Message{To: key.Customer, Body: r.cfg.Cost.guard(b.Prompt, key.Customer).chunks[0], StatusCallback: r.cfg.StatusCallbackURL}
	pace := key.Sender
	if r.cfg.MessagingServiceSID != "" {
		msg.MessagingServiceSID, pace = r.cfg.MessagingServiceSID, r.cfg.MessagingServiceSID
	} else {
		msg.From = key.Sender
	}
	claimed, err := r.st.Marked(ctx, string(markIdentityClaim(in.MessageSID)))
	if err != nil {
		return fmt.Errorf("relay: identity bridge: reading the record: %w", err)
	}
	if !claimed {
		ask, err := r.mayAsk(ctx, key, optChange)
		if err != nil || !ask {
			return err
		}
	}
	// A text that gives an address is the answer: the customer is not
	// asked for what they just said. Its claim tells a retry, whose body
	// decides the same way, to read it whatever the lead has become.
	if _, given := givenEmail(in.Body); given {
		return r.identityUnasked(ctx, key, in, d, claimed)
	}
	if !claimed {
		fresh, err := r.st.MarkSeen(ctx, seenIdentityPrompt(phone), b.Period)
		if err != nil {
			return fmt.Errorf("relay: identity bridge: recording the prompt: %w", err)
		}
		if !fresh {
			log.Info("relay: identity bridge: the number was asked within the period; not asked again")
			return nil
		}
		// A crash right here loses the prompt (the period's claim is
		// taken); it never doubles it.
		mctx, cancel := detached(ctx)
		err = r.st.Mark(mctx, string(markIdentityClaim(in.MessageSID)))
		cancel()
		if err != nil {
			return fmt.Errorf("relay: identity bridge: recording the prompt: %w", err)
		}
	}
	// The sender's pace: a slot is reserved for this text; a job whose
	// slot is far off goes back to the queue until then, so that waiting
	// prompts never hold the workers.
	wait := r.slots.reserve(r.pacer(pace), in.MessageSID)
	if wait > maxPromptWait {
		return deferFor(fmt.Errorf("relay: identity bridge: the sender's pace holds the prompt for %v", wait.Round(time.Millisecond)), wait)
	}
	if err := sleepCtx(ctx, wait); err != nil {
		return fmt.Errorf("relay: identity bridge: waiting for the sender's pace: %w", err)
	}
	r.slots.release(in.MessageSID)
	// The number may have opted out since the claim (a failed delivery's
	// callback, or Relay.Send, records it apart from the customer's jobs)
	// while the prompt waited for its slot.
	if opted, err := r.st.OptedOut(ctx, key); err != nil {
		return fmt.Errorf("relay: reading opt-out: %w", err)
	} else if opted {
		log.Info("relay: identity bridge: the customer opted out while the prompt waited; not asked")
		return nil
	}
	// unsent: Twilio did not take this attempt's prompt, whose time the
	// record holds (no earlier attempt may have sent it).
	unsent := false
	e := sideEffect[*twiliosms.Sent]{
		what:   "asking the customer for their email",
		unsure: markUnsureIdentityPrompt(in.MessageSID),
		do: func(ctx context.Context) (*twiliosms.Sent, error) {
			fresh, err := r.recordPromptTime(ctx, key, phone, d.convID, in.ReceivedAt)
			if err != nil {
				return nil, err
			}
			sent, err := r.tw.Send(ctx, msg)
			unsent = fresh && err != nil && !twiliosms.MaybeSent(err)
			return sent, err
		},
		ambiguous: twiliosms.MaybeSent,
	}
	if r.tw.canList() {
		e.look = func(ctx context.Context) (*twiliosms.Sent, bool, error) {
			return r.sentBefore(ctx, msg, identityPartID(phone), in.ReceivedAt)
		}
	}
	sent, _, err := once(ctx, r, e)
	if unsent {
		// The next attempt's time is the prompt's, not this one's.
		if err := r.putPromptTime(ctx, key, phone, d.convID, time.Unix(0, 0)); err != nil {
			return err
		}
	}
	switch {
	case err == nil:
	case twiliosms.IsOptedOut(err):
		log.Info("relay: identity bridge: Twilio says the customer opted out; not asked")
		if err := r.st.SetOptedOut(ctx, key, true); err != nil {
			return fmt.Errorf("relay: recording opt-out: %w", err)
		}
		// Mirrored on the contact like every opt-out (contactsync.go).
		if err := r.enqueueOptOutSync(ctx, key, optSourcePrompt(in.MessageSID)); err != nil {
			return err
		}
		return r.identityEnd(ctx, phone, "not_sent")
	case twiliosms.IsPermanent(err) || errors.Is(err, twiliosms.ErrInvalidMessage):
		code, _ := twiliosms.ErrorCode(err)
		log.Warn("relay: identity bridge: Twilio refused the prompt", "code", code, "err", err)
		if err := r.identityNote(ctx, d.convID, in.MessageSID, noteFailure(failedIdentityNotSent, code, "")); err != nil {
			return err
		}
		return r.identityEnd(ctx, phone, "not_sent")
	default:
		return fmt.Errorf("relay: identity bridge: sending the prompt: %w", err)
	}
	rctx, cancel := detached(ctx)
	defer cancel()
	if err := r.st.PutMessage(rctx, store.Message{SID: sent.SID, ConversationID: d.convID, PartID: identityPartID(phone), Thread: key, Status: sent.Status}); err != nil {
		return fmt.Errorf("relay: identity bridge: prompt %s sent, recording it failed: %w", sent.SID, err)
	}
	if err := r.st.Mark(rctx, string(markIdentityAsked(phone))); err != nil {
		return fmt.Errorf("relay: identity bridge: prompt %s sent, recording it failed: %w", sent.SID, err)
	}
	log.Info("relay: identity bridge: asked the customer for their email", "sid", sent.SID)
	if err := r.identityNote(ctx, d.convID, in.MessageSID, noteIdentityAsked(msg.Body, msg.From)); err != nil {
		return err
	}
	r.m.identity.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", "asked")))
	return nil
}

// recordPromptTime records the time the prompt set off by a text received
// at receivedAt is taken to have gone out, which crossedPrompt measures the
// customer's texts against: the start of the first attempt that may have
// sent it. It is recorded right before each attempt's request
// (write-ahead; fresh says this attempt wrote it) and kept by the next
// attempts, so that an attempt after
// Twilio took the prompt (a refused note, a lapsed lease, a crash) does not
// move it past the customer's answer received meanwhile. An attempt that
// Twilio answered without taking the prompt (a 429) puts the record back
// before any text (time 0), so that the next attempt's time replaces it
// and a text the customer sent before the prompt went out still crossed
// it. A record older than the text is an earlier prompt's (or none) and is
// replaced.
func (r *Relay) recordPromptTime(ctx context.Context, key store.ThreadKey, phone, convID string, receivedAt time.Time) (fresh bool, err error) {
	m, err := r.st.Message(ctx, identityAskedRecordSID(phone))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return false, fmt.Errorf("relay: identity bridge: reading the prompt's record: %w", err)
	default:
		if at, ok := identityAskedAt(m.PartID); ok && !receivedAt.IsZero() && !at.Before(receivedAt) {
			return false, nil
		}
	}
	return true, r.putPromptTime(ctx, key, phone, convID, time.Now())
}

// putPromptTime writes the identity-asked record of phone with time at.
func (r *Relay) putPromptTime(ctx context.Context, key store.ThreadKey, phone, convID string, at time.Time) error {
	rctx, cancel := detached(ctx)
	defer cancel()
	if err := r.st.PutMessage(rctx, store.Message{SID: identityAskedRecordSID(phone), ConversationID: convID,
		PartID: identityAskedPartID(at), Thread: key, Status: receivedStatus}); err != nil {
		return fmt.Errorf("relay: identity bridge: recording the prompt's time: %w", err)
	}
	return nil
}

// crossedPrompt reports whether a text from phone received at receivedAt
// crossed the prompt: it reached the relay before the prompt was sent. A
// prompt without a record of its time (the record is lost) is crossed by
// nothing.
func (r *Relay) crossedPrompt(ctx context.Context, phone string, receivedAt time.Time) (bool, error) {
	m, err := r.st.Message(ctx, identityAskedRecordSID(phone))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("relay: identity bridge: reading the prompt's record: %w", err)
	}
	at, ok := identityAskedAt(m.PartID)
	if !ok || receivedAt.IsZero() {
		return false, nil
	}
	return receivedAt.Before(at), nil
}

// identityAskedAt reads the time an identity-asked record's PartID holds.
func identityAskedAt(partID string) (time.Time, bool) {
	return unixNanoAfter(partID, identityAskedPartPrefix)
}

// mayAsk reports whether the customer of key may be asked for their email
// now. A number that never may be (its contact is known, or it opted out
// or in) is marked done.
func (r *Relay) mayAsk(ctx context.Context, key store.ThreadKey, optChange int) (bool, error) {
	phone := bareNumber(key.Customer)
	switch {
	case optChange != 0:
		return false, r.identityDone(ctx, phone)
	case twiliosms.KindOf(key.Customer) != twiliosms.LongCode:
		return false, nil // WhatsApp (asked by SMS only), short codes, sender ids
	}
	opted, err := r.st.OptedOut(ctx, key)
	if err != nil {
		return false, fmt.Errorf("relay: reading opt-out: %w", err)
	}
	if opted {
		return false, nil
	}
	contactID, err := r.st.Contact(ctx, phone)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil // forgotten meanwhile; the next text finds it again
	} else if err != nil {
		return false, fmt.Errorf("relay: reading contact: %w", err)
	}
	c, err := r.ic.Contact(ctx, contactID)
	switch {
	case errors.Is(err, intercom.ErrNotFound):
		return false, nil
	case refused(err):
		r.log.Warn("relay: identity bridge: Intercom refuses to show the contact; not asking", "err", err)
		return false, nil
	case err != nil:
		return false, fmt.Errorf("relay: identity bridge: reading the contact: %w", err)
	}
	if c.Role != "lead" || strings.TrimSpace(c.Email) != "" {
		return false, r.identityDone(ctx, phone) // known: never asked
	}
	return true, nil
}

// identityAnswer reads the customer's answer (kind says why the text is
// the answer) and attaches the number to the user whose email it holds.
// The number is never asked again, whatever the answer.
func (r *Relay) identityAnswer(ctx context.Context, key store.ThreadKey, in inboundJob, d delivery, optChange int, kind answerKind) error {
	b := r.cfg.Identity
	phone := bareNumber(key.Customer)
	if optChange != 0 {
		return r.identityEnd(ctx, phone, "opted") // the opt-out note says it all
	}
	say := func(body string) error {
		return r.identityNote(ctx, d.convID, in.MessageSID, body+noteIdentityUnasked(kind))
	}
	email, ok := extractEmail(in.Body)
	if kind != answerToPrompt {
		email, ok = givenEmail(in.Body)
	}
	if !ok {
		if err := say(noteIdentityNoEmail()); err != nil {
			return err
		}
		return r.identityEnd(ctx, phone, "no_email")
	}
	found, err := r.ic.SearchContactsByEmail(ctx, email)
	if err != nil && !refused(err) {
		return fmt.Errorf("relay: identity bridge: searching contacts by email: %w", err)
	}
	if err != nil {
		r.log.Warn("relay: identity bridge: Intercom refuses the search by email", "err", err)
		if err := say(noteIdentityNotSearched(email)); err != nil {
			return err
		}
		return r.identityEnd(ctx, phone, "no_user")
	}
	user, leads := pickUser(found, email)
	if user == nil {
		if err := say(noteIdentityNoUser(email, leads)); err != nil {
			return err
		}
		return r.identityEnd(ctx, phone, "no_user")
	}
	link := userLink(b.WorkspaceID, user.ID)
	leadID, err := r.numberContact(ctx, key, d)
	if err != nil {
		return err
	}
	if leadID == "" || leadID == user.ID {
		note, outcome := noteIdentityMerged(*user, "", email, link), "merged"
		if leadID == "" {
			note, outcome = noteIdentityLinked(*user, email, link, "the relay has no contact on record for this number"), "linked"
		}
		if err := say(note); err != nil {
			return err
		}
		return r.identityEnd(ctx, phone, outcome)
	}
	// An agent may have merged the lead into a user since the prompt:
	// Intercom merges only leads, so say whose the number is instead.
	merging, err := r.st.Marked(ctx, string(markUnsureIdentityMerge(in.MessageSID)))
	if err != nil {
		return fmt.Errorf("relay: identity bridge: reading the record: %w", err)
	}
	if !merging {
		cur, err := r.ic.Contact(ctx, leadID)
		switch {
		case err == nil && cur.Role != "lead":
			note := noteIdentityMerged(*user, "", email, link)
			if cur.ID != user.ID {
				note = noteIdentityOtherUser(*user, *cur, email, link, userLink(b.WorkspaceID, cur.ID))
			}
			if err := say(note); err != nil {
				return err
			}
			return r.identityEnd(ctx, phone, "linked")
		case err != nil && !errors.Is(err, intercom.ErrNotFound) && !refused(err):
			return fmt.Errorf("relay: identity bridge: reading the lead: %w", err)
		}
	}
	_, _, err = once(ctx, r, sideEffect[*intercom.Contact]{
		what:   "merging the lead into the user",
		unsure: markUnsureIdentityMerge(in.MessageSID),
		look: func(ctx context.Context) (*intercom.Contact, bool, error) {
			c, err := r.ic.Contact(ctx, leadID)
			switch {
			case errors.Is(err, intercom.ErrNotFound):
				return nil, true, nil // merged away (or deleted)
			case err != nil:
				return nil, false, err
			}
			// A lead merged into the user resolves to the user; one an
			// agent merged into another contact meanwhile is not this
			// merge's doing (the merge then fails and a note links them).
			return c, c.ID == user.ID, nil
		},
		do: func(ctx context.Context) (*intercom.Contact, error) {
			// Only an answer to the question merges on the typed address
			// alone: an address given unasked may be someone else's.
			return r.ic.MergeContacts(ctx, leadID, user.ID, b.SkipDuplicateValidation && kind == answerToPrompt)
		},
		ambiguous: intercom.IsAmbiguous,
	})
	switch {
	case err == nil:
	case intercom.IsInvalidMerge(err) || refused(err):
		r.log.Info("relay: identity bridge: Intercom refused the merge; linking by note", "err", err)
		if err := say(noteIdentityLinked(*user, email, link, mergeRefusal(err))); err != nil {
			return err
		}
		return r.identityEnd(ctx, phone, "linked")
	default:
		return fmt.Errorf("relay: identity bridge: merging the lead into the user: %w", err)
	}
	// The note first: until the number is adopted, a retry finds the lead
	// again and writes the same note, which the note's look finds; adopted
	// first, a retry would take the number for the user's already and
	// write another note.
	if err := say(noteIdentityMerged(*user, leadID, email, link)); err != nil {
		return err
	}
	if err := r.adoptMergedLead(ctx, key, leadID, user.ID); err != nil {
		return err
	}
	return r.identityEnd(ctx, phone, "merged")
}

// adoptMergedLead records that the number's contact is now into: the store's
// phone → contact (adoptContact) and the thread the answer came on, so that
// the next text continues its conversation, which now belongs to into.
func (r *Relay) adoptMergedLead(ctx context.Context, key store.ThreadKey, from, into string) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := r.adoptContact(ctx, bareNumber(key.Customer), from, into); err != nil {
		return fmt.Errorf("relay: identity bridge: recording the merged contact: %w", err)
	}
	th, err := r.st.Thread(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("relay: reading thread: %w", err)
	case th.ContactID != from:
		return nil
	}
	th.ContactID = into
	if err := r.st.PutThread(ctx, th); err != nil {
		return fmt.Errorf("relay: identity bridge: recording the merged contact on the thread: %w", err)
	}
	return nil
}

// numberContact is the contact the relay keeps for the customer of key:
// the store's, else the thread's, else the one the text was posted as.
func (r *Relay) numberContact(ctx context.Context, key store.ThreadKey, d delivery) (string, error) {
	id, err := r.st.Contact(ctx, bareNumber(key.Customer))
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("relay: reading contact: %w", err)
	}
	th, err := r.st.Thread(ctx, key)
	if err == nil && th.ContactID != "" {
		return th.ContactID, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("relay: reading thread: %w", err)
	}
	return d.contactID, nil
}

// pickUser returns the user among found whose email is email, the most
// recently updated when several are (the first of equals, in Intercom's
// order), and how many leads have the address.
func pickUser(found []intercom.Contact, email string) (*intercom.Contact, int) {
	var user *intercom.Contact
	leads := 0
	for i := range found {
		c := &found[i]
		if !strings.EqualFold(strings.TrimSpace(c.Email), email) {
			continue
		}
		switch {
		case c.Role == "lead":
			leads++
		case c.Role != "user":
		case user == nil || c.UpdatedAt.After(user.UpdatedAt):
			user = c
		}
	}
	return user, leads
}

// mergeRefusal says in a few words why Intercom refused a merge.
func mergeRefusal(err error) string {
	var ie *intercom.Error
	if errors.As(err, &ie) {
		msgs := make([]string, 0, len(ie.Errors))
		for _, it := range ie.Errors {
			if it.Message != "" {
				msgs = append(msgs, it.Message)
			}
		}
		if len(msgs) > 0 {
			return fmt.Sprintf("Intercom refused to merge them (%d: %s)", ie.StatusCode, strings.Join(slices.Compact(msgs), "; "))
		}
		return fmt.Sprintf("Intercom refused to merge them (status %d)", ie.StatusCode)
	}
	return "Intercom refused to merge them"
}

// userLink is the address of a contact's profile in Intercom, or "" when
// the workspace is not known.
func userLink(workspaceID, contactID string) string {
	if workspaceID == "" {
		return ""
	}
	return "https://app.intercom.com/a/apps/" + workspaceID + "/users/" + contactID + "/all-conversations"
}

// identityEnd records that the number is never asked again, and counts
// outcome (smsrelay.identity).
func (r *Relay) identityEnd(ctx context.Context, phone, outcome string) error {
	if err := r.identityDone(ctx, phone); err != nil {
		return err
	}
	r.m.identity.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	return nil
}

// identityDone records that the number is never asked again.
func (r *Relay) identityDone(ctx context.Context, phone string) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := r.st.Mark(ctx, string(markIdentityDone(phone))); err != nil {
		return fmt.Errorf("relay: identity bridge: recording the number as done: %w", err)
	}
	return nil
}

// identityNote adds the identity bridge's note about customer text
// messageSID to conversation convID, once: a retry after an unsure attempt
// looks for it among the conversation's parts.
func (r *Relay) identityNote(ctx context.Context, convID, messageSID, body string) error {
	done, err := r.st.Marked(ctx, string(markIdentityNoted(messageSID)))
	if err != nil {
		return fmt.Errorf("relay: identity bridge: reading the note record: %w", err)
	}
	if done {
		return nil
	}
	_, _, err = once(ctx, r, sideEffect[struct{}]{
		what:   "noting the identity bridge",
		unsure: markUnsureIdentityNote(messageSID),
		look: func(ctx context.Context) (struct{}, bool, error) {
			conv, err := r.ic.Conversation(ctx, convID)
			if err != nil {
				return struct{}{}, false, err
			}
			want := SMSText(body)
			for _, p := range conv.Parts {
				if p.PartType == "note" && SMSText(p.Body) == want {
					return struct{}{}, true, nil
				}
			}
			return struct{}{}, false, nil
		},
		do: func(ctx context.Context) (struct{}, error) {
			_, err := r.ic.AddNote(ctx, convID, r.cfg.NoteAuthor, body)
			return struct{}{}, err
		},
		ambiguous: intercom.IsAmbiguous,
	})
	if err != nil {
		return fmt.Errorf("relay: identity bridge: adding a note: %w", err)
	}
	mctx, cancel := detached(ctx)
	defer cancel()
	if err := r.st.Mark(mctx, string(markIdentityNoted(messageSID))); err != nil {
		return fmt.Errorf("relay: identity bridge: recording the note: %w", err)
	}
	return nil
}

// slotBook holds the send slots reserved by prompts that went back to the
// queue to wait for them, by the customer text that set them off. It is
// per process, like the pace.
type slotBook struct {
	mu sync.Mutex
	at map[string]time.Time
}

func newSlotBook() *slotBook { return &slotBook{at: make(map[string]time.Time)} }

// reserve returns how long until the slot of p reserved for messageSID,
// reserving the next free one when there is none.
func (b *slotBook) reserve(p *pacer, messageSID string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for k, t := range b.at {
		if now.Sub(t) > slotTTL {
			delete(b.at, k)
		}
	}
	t, ok := b.at[messageSID]
	if !ok {
		t = p.take(now)
		b.at[messageSID] = t
	}
	return t.Sub(now)
}

// release forgets messageSID's reservation once its slot was used.
func (b *slotBook) release(messageSID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.at, messageSID)
}
