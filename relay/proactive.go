package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// This file is texting first: Relay.Send, the record of what it sent in
// Intercom, and the customer's answer within Config.AnswerWindow.

// Text is a text the relay sends first: an order update, a reminder. See
// [Relay.Send].
type Text struct {
	// To is the customer's phone number, in E.164 form or, with
	// Config.DefaultRegion, national form; or "whatsapp:+...". Set To or
	// ContactID, not both.
	To string
	// ContactID is the Intercom contact to text, at the phone number on
	// their profile. It needs an IntercomAPI that is a [ContactReader], as
	// *intercom.Client is.
	ContactID string
	// From is the number (or sender) to text from. Default:
	// Config.DefaultFrom. With Config.MessagingServiceSID and no From, the
	// text goes through the Messaging Service, and the customer's answer,
	// to whichever number of its pool, joins their thread with the service.
	From string
	// Body is the text. The cost guard (Config.Cost) applies to it.
	Body string
	// ContentSID, instead of Body, sends a Twilio Content Template ("HX"
	// and 32 hex digits): on WhatsApp, an approved template is the only
	// message that reaches a customer who has not written in the last 24
	// hours. ContentVariables fill its placeholders.
	ContentSID       string
	ContentVariables map[string]string
	// IdempotencyKey makes Send idempotent: a Send with the key of an
	// earlier one sends nothing again. Up to 200 characters. Default: none
	// (every Send sends).
	IdempotencyKey string
}

// SentText is what [Relay.Send] sent.
type SentText struct {
	// SID is Twilio's id of the (first) text; "" for a repeated Send whose
	// text the relay could not find in Twilio's message list.
	SID string
	// SIDs are the ids of every text, when the cost guard split the body.
	SIDs []string
	// Segments is the number of SMS segments of all the texts (0 on
	// WhatsApp), and Encoding their encoding.
	Segments int
	Encoding twiliosms.Encoding
	// To and From are the addresses as sent; From is "" when the text went
	// through the Messaging Service.
	To, From string
	// Repeated says an earlier Send with the same IdempotencyKey sent it.
	Repeated bool
}

// Errors of [Relay.Send], for errors.Is. A refusal wraps one of them in a
// *SendError.
var (
	// ErrInvalidText: the Text cannot be sent as given (no number, a
	// malformed number, an empty body, a contact with no phone).
	ErrInvalidText = errors.New("relay: text cannot be sent")
	// ErrOptedOut: the customer opted out of texts from this number.
	ErrOptedOut = errors.New("relay: customer opted out")
	// ErrOverSegmentCap: the body is longer than Config.Cost.MaxSegments
	// and Config.Cost.HoldOverCap holds it back.
	ErrOverSegmentCap = errors.New("relay: text longer than the segment cap")
	// ErrRefused: Twilio refused the text for good (see the wrapped
	// Twilio error for its code).
	ErrRefused = errors.New("relay: Twilio refused the text")
)

// SendError is why [Relay.Send] did not send a text: Kind is one of
// ErrInvalidText, ErrOptedOut, ErrOverSegmentCap, ErrOutsideWindow and
// ErrRefused, and Err the cause, if any.
type SendError struct {
	Kind   error
	Reason string
	Err    error
}

// Error says what was wrong.
func (e *SendError) Error() string {
	s := e.Kind.Error() + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the kind and the cause.
func (e *SendError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func refuse(kind error, format string, a ...any) *SendError {
	return &SendError{Kind: kind, Reason: fmt.Sprintf(format, a...)}
}

// maxIdempotencyKey bounds Text.IdempotencyKey.
const maxIdempotencyKey = 200

// ContactReader is an optional capability of an [IntercomAPI]: reading a
// contact by id. *intercom.Client has it. [Relay.Send] needs it to text a
// contact by id.
type ContactReader interface {
	Contact(ctx context.Context, id string) (*intercom.Contact, error)
}

// ContactNoter is an optional capability of an [IntercomAPI]: adding a note
// to a contact's profile. *intercom.Client has it. Without it, texts sent
// by [Relay.Send] are not recorded in Intercom (the relay logs that).
type ContactNoter interface {
	AddContactNote(ctx context.Context, contactID, adminID, body string) (*intercom.ContactNote, error)
}

// ContactNoteLister is an optional capability of an [IntercomAPI]: listing
// the notes on a contact created since a time, newest first.
// *intercom.Client has it. With it, a note on a contact whose request had
// an unknown outcome (a timeout, a 502) is looked for before it is added
// again; without it, such a note may be added twice.
type ContactNoteLister interface {
	ContactNotes(ctx context.Context, contactID string, since time.Time) ([]intercom.ContactNote, error)
}

// proactiveJob records a text the relay sent first in Intercom.
type proactiveJob struct {
	SID       string    `json:"sid"`
	To        string    `json:"to"`
	From      string    `json:"from"`
	Body      string    `json:"body"`
	ContactID string    `json:"contact_id,omitempty"`
	SentAt    time.Time `json:"sent_at"`
}

// Send texts a customer first, from code: an order update, a reminder. It
// returns once Twilio accepted the text.
//
// The customer's opt-out is honoured (an error wrapping ErrOptedOut), the
// body goes through the cost guard (Config.Cost) and texts from one
// sender are paced to the rate Twilio sends them at (Config.SendRate), so
// a bulk send waits in Send, in the caller's goroutine, never in the
// workers that relay replies. With an IdempotencyKey, a retried Send sends
// once, even when the earlier call's answer was lost. The text is recorded
// as a note on the customer's Intercom contact (a new lead when Intercom
// does not know the number) by a job, after Send returns; a delivery
// failure becomes a note on their SMS conversation, or on the contact. An
// answer within Config.AnswerWindow threads like any text, and the
// conversation gets a note quoting what was sent, and the tag
// Config.AnswerTagID.
//
// Errors: a *SendError (ErrInvalidText, ErrOptedOut, ErrOverSegmentCap,
// ErrOutsideWindow, ErrRefused) when the text was not sent and sending it again will not
// help; otherwise a transient error, after which the same call (with the
// same IdempotencyKey) may be retried. When the text went out but
// recording it failed, Send returns both the SentText and an error.
//
// Limits: the key makes a retry (a Send after the earlier one returned)
// send once; two Sends with the same key running at the same time may
// both send. Pacing is per process: replicas sending from one number each
// keep to the rate. A repeated Send finds the earlier text's SID in
// Twilio's list of the latest 50 texts to the customer; past those, SID
// is "".
func (r *Relay) Send(ctx context.Context, t Text) (*SentText, error) {
	if ctx == nil {
		return nil, errors.New("relay: Send: nil context")
	}
	if (t.To == "") == (t.ContactID == "") {
		return nil, refuse(ErrInvalidText, "set To or ContactID, exactly one")
	}
	switch {
	case t.ContentSID != "" && t.Body != "":
		return nil, refuse(ErrInvalidText, "set Body or ContentSID, not both")
	case t.ContentSID != "":
		if err := twiliosms.ValidContentSID(t.ContentSID); err != nil {
			return nil, &SendError{Kind: ErrInvalidText, Reason: "ContentSID", Err: err}
		}
	case len(t.ContentVariables) > 0:
		return nil, refuse(ErrInvalidText, "ContentVariables need ContentSID")
	case strings.TrimSpace(t.Body) == "":
		return nil, refuse(ErrInvalidText, "empty body")
	}
	if len(t.IdempotencyKey) > maxIdempotencyKey {
		return nil, refuse(ErrInvalidText, "IdempotencyKey is %d characters long, more than %d", len(t.IdempotencyKey), maxIdempotencyKey)
	}
	to := t.To
	if t.ContactID != "" {
		var err error
		if to, t.ContactID, err = r.phoneOf(ctx, t.ContactID); err != nil {
			return nil, err
		}
	}
	to, err := twiliosms.NormalizeAddress(to, r.cfg.DefaultRegion)
	if err != nil {
		return nil, &SendError{Kind: ErrInvalidText, Reason: "To", Err: err}
	}
	from := t.From
	viaService := from == "" && r.cfg.MessagingServiceSID != "" && !twiliosms.IsWhatsApp(to)
	switch {
	case viaService:
		// The customer's answer, to whichever number of the pool, joins
		// the (customer, service) thread (pools.go).
		from = r.cfg.MessagingServiceSID
	case from == "":
		from = r.cfg.DefaultFrom
	}
	if from == "" {
		return nil, refuse(ErrInvalidText, "no From and no Config.DefaultFrom")
	}
	if n, err := twiliosms.NormalizeAddress(from, r.cfg.DefaultRegion); err == nil {
		from = n
	} else if !isSenderID(from) && from != r.cfg.MessagingServiceSID {
		return nil, &SendError{Kind: ErrInvalidText, Reason: "From", Err: err}
	}
	if twiliosms.IsWhatsApp(to) != twiliosms.IsWhatsApp(from) {
		return nil, refuse(ErrInvalidText, "To and From must both be WhatsApp addresses, or neither")
	}
	key := store.ThreadKey{Customer: to, Sender: from}
	opted, err := r.st.OptedOut(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("relay: Send: reading opt-out: %w", err)
	}
	if opted {
		return nil, refuse(ErrOptedOut, "%s opted out of texts from %s", twiliosms.MaskAddress(to), from)
	}
	if twiliosms.IsWhatsApp(to) && t.ContentSID == "" {
		in, err := r.inWhatsAppWindow(ctx, key)
		if err != nil {
			return nil, err
		}
		if !in {
			return nil, refuse(ErrOutsideWindow, "the customer has not written in the last 24 hours; send an approved template (ContentSID)")
		}
	}
	g := r.cfg.Cost.guard(t.Body, to)
	if t.ContentSID != "" {
		g = guardedText{chunks: []string{""}}
	}
	if g.held {
		return nil, refuse(ErrOverSegmentCap, "%d %s segments, more than the cap of %d", g.cost.Segments, g.cost.Encoding, r.cfg.Cost.MaxSegments)
	}
	idem := t.IdempotencyKey
	if idem == "" {
		idem = randomKey()
	}
	out := &SentText{To: to, From: from}
	if viaService {
		out.From = ""
	}
	for i, chunk := range g.chunks {
		msg := twiliosms.Message{To: to, Body: chunk, StatusCallback: r.cfg.StatusCallbackURL,
			ContentSID: t.ContentSID, ContentVariables: t.ContentVariables}
		if viaService {
			msg.MessagingServiceSID = from
		} else {
			msg.From = from
		}
		seg := twiliosms.CountSegments(chunk)
		if !twiliosms.IsWhatsApp(to) && t.ContentSID == "" {
			out.Segments += seg.Segments
			if out.Encoding == "" || seg.Encoding == twiliosms.UCS2 {
				out.Encoding = seg.Encoding
			}
		}
		sid, repeated, err := r.sendProactive(ctx, key, msg, idem, i, from)
		if err != nil {
			return nil, err
		}
		out.Repeated = out.Repeated || repeated
		if sid != "" {
			out.SIDs = append(out.SIDs, sid)
			recorded := chunk
			if t.ContentSID != "" {
				recorded = "[template " + t.ContentSID + "]"
			}
			if err := r.enqueueProactive(ctx, proactiveJob{SID: sid, To: to, From: from, Body: recorded, ContactID: t.ContactID, SentAt: time.Now().UTC()}); err != nil {
				if len(out.SIDs) > 0 {
					out.SID = out.SIDs[0]
				}
				return out, err
			}
		}
	}
	if len(out.SIDs) > 0 {
		out.SID = out.SIDs[0]
	}
	return out, nil
}

// sendProactive sends chunk i of the text with idempotency key idem, once.
// It returns the text's SID ("" when an earlier Send sent it and it cannot
// be found) and whether an earlier Send sent it.
func (r *Relay) sendProactive(ctx context.Context, key store.ThreadKey, msg twiliosms.Message, idem string, i int, pace string) (string, bool, error) {
	partID := proactivePartID(idem)
	done, err := r.st.Marked(ctx, string(markProactiveSent(idem, i)))
	if err != nil {
		return "", false, fmt.Errorf("relay: Send: reading the idempotency record: %w", err)
	}
	if done {
		sid := ""
		if r.tw.canList() {
			if sent, found, err := r.sentBefore(ctx, msg, partID, time.Time{}); err == nil && found {
				sid = sent.SID
			}
		}
		return sid, true, nil
	}
	// Waiting for the slot comes first: a Send whose context ends here
	// sent nothing, for sure.
	if err := r.pacer(pace).Wait(ctx); err != nil {
		return "", false, fmt.Errorf("relay: Send: waiting for the sender's pace: %w", err)
	}
	e := sideEffect[*twiliosms.Sent]{
		what:      "sending a text first",
		unsure:    markUnsureProactive(idem, i),
		do:        func(ctx context.Context) (*twiliosms.Sent, error) { return r.tw.Send(ctx, msg) },
		ambiguous: twiliosms.MaybeSent,
	}
	if r.tw.canList() {
		e.look = func(ctx context.Context) (*twiliosms.Sent, bool, error) {
			return r.sentBefore(ctx, msg, partID, time.Time{})
		}
	}
	sent, found, err := once(ctx, r, e)
	if err != nil {
		if twiliosms.IsOptedOut(err) {
			if serr := r.st.SetOptedOut(ctx, key, true); serr != nil {
				r.log.Error("relay: recording opt-out", "err", serr)
			} else if serr := r.enqueueOptOutSync(ctx, key, partID+":"+strconv.Itoa(i)); serr != nil {
				r.log.Error("relay: queueing the opt-out's contact update", "err", serr)
			}
			return "", false, &SendError{Kind: ErrOptedOut, Reason: "Twilio says the customer opted out", Err: err}
		}
		if twiliosms.IsPermanent(err) || errors.Is(err, twiliosms.ErrInvalidMessage) {
			return "", false, &SendError{Kind: ErrRefused, Reason: "Twilio refused it", Err: err}
		}
		return "", false, fmt.Errorf("relay: Send: %w", err)
	}
	// Record at once, whatever happened to the caller's context.
	rctx, cancel := detached(ctx)
	defer cancel()
	convID := proactiveNoConversation
	if th, err := r.st.Thread(rctx, key); err == nil && th.ConversationID != "" {
		convID = th.ConversationID
	}
	if err := r.st.PutMessage(rctx, store.Message{SID: sent.SID, ConversationID: convID, PartID: partID, Thread: key, Status: sent.Status}); err != nil {
		return sent.SID, found, fmt.Errorf("relay: Send: text %s sent, recording it failed: %w", sent.SID, err)
	}
	if err := r.st.Mark(rctx, string(markProactiveSent(idem, i))); err != nil {
		return sent.SID, found, fmt.Errorf("relay: Send: text %s sent, recording it failed: %w", sent.SID, err)
	}
	if err := r.st.Mark(rctx, string(markProactiveDay(key, time.Now()))); err != nil {
		return sent.SID, found, fmt.Errorf("relay: Send: text %s sent, recording it failed: %w", sent.SID, err)
	}
	if err := r.st.Mark(rctx, string(markProactiveThread(key))); err != nil {
		return sent.SID, found, fmt.Errorf("relay: Send: text %s sent, recording it failed: %w", sent.SID, err)
	}
	return sent.SID, found, nil
}

// enqueueProactive schedules the record of a sent text in Intercom, once.
func (r *Relay) enqueueProactive(ctx context.Context, p proactiveJob) error {
	payload, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("relay: Send: encoding job: %w", err)
	}
	ctx, cancel := detached(ctx)
	defer cancel()
	_, err = r.q.Enqueue(ctx, store.NewJob{
		Kind: kindProactive, Key: orderKey(p.To), Payload: payload,
		DedupeKey: dedupeProactive(p.SID), DedupeTTL: r.cfg.DedupeTTL,
	})
	if err != nil && !errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("relay: Send: text %s sent, but queueing its record in Intercom failed: %w", p.SID, err)
	}
	return nil
}

// handleProactive records a text the relay sent first as a note on the
// customer's contact, creating a lead when Intercom does not know the
// number, so that the note and a later answer have a contact.
func (r *Relay) handleProactive(ctx context.Context, p proactiveJob, job store.Job) error {
	contactID := p.ContactID
	if contactID == "" {
		var err error
		if contactID, err = r.contactFor(ctx, p.To); err != nil {
			return err
		}
	}
	// The time of the last text, on the contact (contactsync.go).
	if err := r.enqueueLastSent(ctx, store.ThreadKey{Customer: p.To, Sender: p.From}, contactID, p.SentAt); err != nil {
		return err
	}
	if r.ic.noter == nil {
		r.log.Warn("relay: the Intercom client cannot add notes to contacts; a text sent first is not recorded in Intercom", "sid", p.SID)
		return nil
	}
	done, err := r.st.Marked(ctx, string(markProactiveNoted(p.SID)))
	if err != nil || done {
		return err
	}
	// Every attempt comes after the text was sent and the job enqueued.
	since := p.SentAt
	if since.IsZero() || !job.CreatedAt.IsZero() && job.CreatedAt.Before(since) {
		since = job.CreatedAt
	}
	note := noteProactiveSent(p.Body, p.From, p.SentAt)
	_, _, err = once(ctx, r, sideEffect[*intercom.ContactNote]{
		what:   "noting a text sent first on the contact",
		unsure: markUnsureProactiveNote(p.SID),
		look:   contactNoteLook[*intercom.ContactNote](r, contactID, note, since),
		do: func(ctx context.Context) (*intercom.ContactNote, error) {
			// A contact merged since is followed (merge.go).
			_, err := r.noteContact(ctx, bareNumber(p.To), contactID, note)
			return nil, err
		},
		ambiguous: intercom.IsAmbiguous,
	})
	if err != nil {
		return fmt.Errorf("relay: noting a text sent first: %w", err)
	}
	mctx, cancel := detached(ctx)
	defer cancel()
	if err := r.st.Mark(mctx, string(markProactiveNoted(p.SID))); err != nil {
		return fmt.Errorf("relay: recording the note of a text sent first: %w", err)
	}
	return nil
}

// answeredProactive notes on conversation d.convID, once per text sent
// first, that the customer's text answers one the relay sent within
// Config.AnswerWindow, quoting it, and tags the conversation.
func (r *Relay) answeredProactive(ctx context.Context, key store.ThreadKey, in inboundJob, d delivery) error {
	if r.cfg.AnswerWindow < 0 {
		return nil
	}
	at := in.ReceivedAt
	if at.IsZero() {
		at = time.Now()
	}
	since := at.Add(-r.cfg.AnswerWindow)
	// One read for the customers never texted first, most of them.
	if ever, err := r.st.Marked(ctx, string(markProactiveThread(key))); err != nil || !ever {
		if err != nil {
			return fmt.Errorf("relay: reading the record of texts sent first: %w", err)
		}
		return nil
	}
	seen := false
	for day := since.UTC().Truncate(24 * time.Hour); !day.After(at); day = day.Add(24 * time.Hour) {
		ok, err := r.st.Marked(ctx, string(markProactiveDay(key, day)))
		if err != nil {
			return fmt.Errorf("relay: reading the record of texts sent first: %w", err)
		}
		seen = seen || ok
	}
	if !seen {
		return nil
	}
	var sent *twiliosms.Record
	if r.tw.canList() {
		recent, err := r.tw.Recent(ctx, key.Customer, since)
		if err != nil {
			return fmt.Errorf("relay: looking up a text sent first: %w", err)
		}
		for i := range recent { // newest first
			rec := &recent[i]
			// Twilio's times are whole seconds.
			if !strings.HasPrefix(rec.Direction, "outbound") || rec.DateCreated.After(at) || rec.DateCreated.Before(since.Truncate(time.Second)) {
				continue
			}
			m, err := r.st.Message(ctx, rec.SID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return fmt.Errorf("relay: reading message record: %w", err)
			}
			if m.Thread == key && strings.HasPrefix(m.PartID, proactivePartPrefix) {
				sent = rec
				break
			}
		}
		if sent == nil {
			return nil // what was sent that day is older than the window
		}
	}
	answered := markProactiveAnsweredOn(d.convID, since)
	if sent != nil {
		answered = markProactiveAnswered(sent.SID)
	}
	if done, err := r.st.Marked(ctx, string(answered)); err != nil || done {
		return err
	}
	note := noteProactiveAnswer(nil)
	if sent != nil {
		note = noteProactiveAnswer(&proactiveQuote{body: sent.Body, at: sent.DateCreated})
	}
	if _, err := r.ic.AddNote(ctx, d.convID, r.cfg.NoteAuthor, note); err != nil {
		return fmt.Errorf("relay: noting the answer to a text sent first: %w", err)
	}
	if r.cfg.AnswerTagID != "" {
		if err := r.ic.TagConversation(ctx, d.convID, r.cfg.AnswerTagID, r.cfg.NoteAuthor); err != nil {
			return fmt.Errorf("relay: tagging the answer to a text sent first: %w", err)
		}
	}
	mctx, cancel := detached(ctx)
	defer cancel()
	if err := r.st.Mark(mctx, string(answered)); err != nil {
		return fmt.Errorf("relay: recording the answer to a text sent first: %w", err)
	}
	return nil
}

// proactiveFailed makes a delivery failure of a text sent first visible:
// a note on the customer's SMS conversation when they have one, else on
// their contact.
func (r *Relay) proactiveFailed(ctx context.Context, m store.Message, note string) error {
	th, err := r.st.Thread(ctx, m.Thread)
	switch {
	case err == nil && th.ConversationID != "":
		if _, err := r.ic.AddNote(ctx, th.ConversationID, r.cfg.NoteAuthor, note); err != nil {
			return fmt.Errorf("relay: adding delivery failure note: %w", err)
		}
		return nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("relay: reading thread: %w", err)
	}
	contactID, err := r.contactFor(ctx, m.Thread.Customer)
	if err != nil {
		return err
	}
	if r.ic.noter == nil {
		r.log.Warn("relay: a text sent first was not delivered and the Intercom client cannot note it on the contact", "sid", m.SID)
		return nil
	}
	if _, err := r.noteContact(ctx, bareNumber(m.Thread.Customer), contactID, note); err != nil {
		return fmt.Errorf("relay: adding delivery failure note: %w", err)
	}
	return nil
}

// phoneOf returns the phone number on an Intercom contact's profile, and
// the contact's id: that of the contact it was merged into, if it was
// (a 410 the client follows).
func (r *Relay) phoneOf(ctx context.Context, contactID string) (string, string, error) {
	if r.ic.reader == nil {
		return "", "", refuse(ErrInvalidText, "texting by ContactID needs an IntercomAPI that is a relay.ContactReader")
	}
	c, err := r.ic.Contact(ctx, contactID)
	if errors.Is(err, intercom.ErrNotFound) {
		return "", "", &SendError{Kind: ErrInvalidText, Reason: "no such contact", Err: err}
	}
	if err != nil {
		return "", "", fmt.Errorf("relay: Send: reading contact: %w", err)
	}
	if strings.TrimSpace(c.Phone) == "" {
		return "", "", refuse(ErrInvalidText, "contact %s has no phone number", contactID)
	}
	if c.ID == "" {
		return c.Phone, contactID, nil
	}
	return c.Phone, c.ID, nil
}

// isSenderID reports whether from is a short code or alphanumeric sender
// ID, which NormalizeAddress does not take.
func isSenderID(from string) bool {
	k := twiliosms.KindOf(from)
	return (k == twiliosms.ShortCode || k == twiliosms.Alphanumeric) && from != "" && !strings.ContainsAny(from, " |")
}

// randomKey is an idempotency key for a Send that was given none.
func randomKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	return "auto-" + hex.EncodeToString(b[:])
}
