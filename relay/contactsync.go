package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// This file mirrors what the relay knows of a customer's texting onto
// their Intercom contact (Config.ContactSync): their opt-out, as a
// boolean custom attribute and/or a tag, and when the relay last texted
// them, as a date custom attribute. Agents see them on the contact, and
// Intercom's segments and workflows can use them.
//
// Every update is a job of its own (kindContactSync), enqueued after the
// text it follows was handled, ordered per customer under a key of its own
// (contactSyncKey): an update Intercom keeps failing is retried without
// holding up the customer's texts or the agents' replies, and two updates
// of one customer run in the order they were enqueued.

// ContactSync mirrors a customer's SMS state onto their Intercom contact.
// Every part is off while its field is empty, and all are off by default;
// a Relay with none set makes no call for it.
//
// The custom attributes must exist in the workspace before the relay can
// set them: create them as contact ("People") data attributes in
// Intercom's settings (Settings > Data > People > Create attribute) or
// with POST /data_attributes, OptOutAttribute of type True/False
// (boolean) and LastSentAttribute of type Date. Intercom refuses an update
// naming an attribute it does not have; the relay then dead-letters the
// update and logs an error saying which attribute to create. The tag is
// created when the workspace has none by its name.
type ContactSync struct {
	// OptOutAttribute names a boolean custom attribute, such as
	// "sms_opted_out", set to true when the customer opts out (a STOP
	// keyword, Twilio's OptOutType, or Twilio refusing a text because
	// they opted out) and to false when they opt back in (START).
	OptOutAttribute string
	// OptOutTag names a tag, such as "SMS opted out", applied to the
	// contact when the customer opts out and removed when they opt back
	// in.
	OptOutTag string
	// LastSentAttribute names a date custom attribute, such as
	// "last_sms_sent", set to the time of the latest text the relay sent
	// the customer: an agent's reply, a text from [Relay.Send] or from
	// the Inbox app. Pages to agents do not count.
	LastSentAttribute string
	// LastSentEvery coalesces updates of LastSentAttribute: at most one
	// per customer per period (texts are grouped by the period of their
	// send time), so the attribute may lag the latest text by up to
	// that much. Intercom compares date attributes by calendar day in
	// searches and segments. Default one minute; it needs
	// LastSentAttribute.
	LastSentEvery time.Duration
}

// defaultLastSentEvery is ContactSync.LastSentEvery's default.
const defaultLastSentEvery = time.Minute

// optOutOn reports whether opt-outs are mirrored.
func (s ContactSync) optOutOn() bool { return s.OptOutAttribute != "" || s.OptOutTag != "" }

// lastSentOn reports whether the last text's time is mirrored.
func (s ContactSync) lastSentOn() bool { return s.LastSentAttribute != "" }

// maxTagName bounds ContactSync.OptOutTag.
const maxTagName = 190

// withDefaults validates s, reporting problems through add, and fills in
// its defaults.
func (s ContactSync) withDefaults(api IntercomAPI, add func(string, ...any)) ContactSync {
	if s.OptOutAttribute != "" {
		if err := intercom.ValidAttributeName(s.OptOutAttribute); err != nil {
			add("ContactSync.OptOutAttribute: %v", err)
		}
	}
	if s.LastSentAttribute != "" {
		if err := intercom.ValidAttributeName(s.LastSentAttribute); err != nil {
			add("ContactSync.LastSentAttribute: %v", err)
		}
	}
	if s.OptOutAttribute != "" && s.OptOutAttribute == s.LastSentAttribute {
		add("ContactSync: OptOutAttribute and LastSentAttribute are both %q; one is a boolean, the other a date", s.OptOutAttribute)
	}
	if s.OptOutTag != "" {
		switch {
		case strings.TrimSpace(s.OptOutTag) != s.OptOutTag || strings.TrimSpace(s.OptOutTag) == "":
			add("ContactSync.OptOutTag %q is blank or has surrounding spaces", s.OptOutTag)
		case len(s.OptOutTag) > maxTagName:
			add("ContactSync.OptOutTag is %d bytes long, more than %d", len(s.OptOutTag), maxTagName)
		case strings.IndexFunc(s.OptOutTag, unicode.IsControl) >= 0:
			add("ContactSync.OptOutTag contains a control character")
		}
	}
	switch {
	case s.LastSentEvery < 0:
		add("ContactSync.LastSentEvery must not be negative")
	case s.LastSentEvery > 0 && s.LastSentEvery < time.Second:
		add("ContactSync.LastSentEvery must be at least a second (Intercom's dates are whole seconds)")
	case s.LastSentEvery > 0 && !s.lastSentOn():
		add("ContactSync.LastSentEvery needs ContactSync.LastSentAttribute")
	}
	if (s.optOutOn() || s.lastSentOn()) && api != nil {
		if _, ok := api.(ContactUpdater); !ok {
			add("ContactSync needs an Intercom client that is a relay.ContactUpdater (*intercom.Client is)")
		}
	}
	if s.LastSentEvery == 0 {
		s.LastSentEvery = defaultLastSentEvery
	}
	return s
}

// ContactUpdater is an optional capability of an [IntercomAPI]: setting a
// contact's custom attributes and tags. *intercom.Client has it.
// Config.ContactSync needs it.
type ContactUpdater interface {
	UpdateContact(ctx context.Context, id string, u intercom.ContactUpdate) (*intercom.Contact, error)
	TagContact(ctx context.Context, contactID, tagID string) error
	UntagContact(ctx context.Context, contactID, tagID string) error
	CreateTag(ctx context.Context, name string) (*intercom.Tag, error)
}

// contactSyncJob is one update of a customer's contact.
type contactSyncJob struct {
	// Customer and Sender are the thread the update is about.
	Customer string `json:"customer"`
	Sender   string `json:"sender"`
	// ContactID is the contact to update; "" means the one the store
	// holds for Customer's phone when the job runs.
	ContactID string `json:"contact_id,omitempty"`
	// OptOut mirrors the thread's opt-out state as the store has it when
	// the job runs, so that whatever order two updates run in, the last
	// state wins.
	OptOut bool `json:"opt_out,omitempty"`
	// SentAt, when set, is the time of a text sent to the customer.
	SentAt time.Time `json:"sent_at,omitzero"`
}

// optOutTagCache holds the id of ContactSync.OptOutTag once Intercom named
// it.
type optOutTagCache struct {
	mu sync.Mutex
	id string
}

// enqueueOptOutSync schedules mirroring key's opt-out state onto the
// customer's contact, once per source (the text or part that changed it).
func (r *Relay) enqueueOptOutSync(ctx context.Context, key store.ThreadKey, source string) error {
	if !r.cfg.ContactSync.optOutOn() {
		return nil
	}
	return r.enqueueContactSync(ctx, contactSyncJob{Customer: key.Customer, Sender: key.Sender, OptOut: true},
		dedupeContactSyncOptOut(source), r.cfg.DedupeTTL)
}

// enqueueLastSent schedules setting the time of the latest text sent on
// key's customer's contact (contactID, or the store's when ""): at most
// one job per customer per ContactSync.LastSentEvery.
func (r *Relay) enqueueLastSent(ctx context.Context, key store.ThreadKey, contactID string, at time.Time) error {
	cs := r.cfg.ContactSync
	if !cs.lastSentOn() {
		return nil
	}
	return r.enqueueContactSync(ctx, contactSyncJob{Customer: key.Customer, Sender: key.Sender, ContactID: contactID, SentAt: at.UTC()},
		dedupeContactSyncSent(key.Customer, cs.LastSentEvery, at), max(2*cs.LastSentEvery, time.Hour))
}

func (r *Relay) enqueueContactSync(ctx context.Context, p contactSyncJob, dedupe string, ttl time.Duration) error {
	payload, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("relay: encoding contact update job: %w", err)
	}
	ctx, cancel := detached(ctx)
	defer cancel()
	_, err = r.q.Enqueue(ctx, store.NewJob{
		Kind: kindContactSync, Key: contactSyncKey(p.Customer), Payload: r.withTrace(ctx, payload),
		DedupeKey: dedupe, DedupeTTL: ttl,
	})
	if err != nil && !errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("relay: enqueueing contact update: %w", err)
	}
	return nil
}

// handleContactSync updates a customer's contact.
func (r *Relay) handleContactSync(ctx context.Context, p contactSyncJob, job store.Job) error {
	key := store.ThreadKey{Customer: p.Customer, Sender: p.Sender}
	if err := key.Validate(); err != nil {
		return permanent(fmt.Errorf("relay: contact update: %w", err))
	}
	if r.ic.updater == nil {
		return permanent(errors.New("relay: contact update: the Intercom client is not a relay.ContactUpdater"))
	}
	log := r.log.With("job", job.ID, "customer", twiliosms.MaskAddress(p.Customer))
	contactID := p.ContactID
	if contactID == "" {
		id, err := r.st.Contact(ctx, bareNumber(p.Customer))
		if errors.Is(err, store.ErrNotFound) {
			// The relay found or made the contact when it handled the
			// text; it was forgotten since (deleted in Intercom).
			log.Warn("relay: contact update: no contact is known for the customer; dropped")
			return nil
		}
		if err != nil {
			return fmt.Errorf("relay: contact update: reading contact: %w", err)
		}
		contactID = id
	}
	err := r.syncContact(ctx, log.With("contact", contactID), key, contactID, p)
	var gone *contactGoneError
	if !errors.As(err, &gone) {
		return err
	}
	// The contact may have been merged since the job was enqueued (by
	// an agent, or by the identity bridge while this job waited): the
	// update goes to the contact it became (merge.go).
	into, ferr := r.followMerge(ctx, bareNumber(p.Customer), contactID, "", nil, gone.err)
	if ferr != nil {
		return fmt.Errorf("relay: contact update: contact %s is gone, and finding what it was merged into failed: %w", contactID, ferr)
	}
	if into != "" {
		log.Info("relay: contact update: the contact was merged; updating the one it became", "contact", contactID, "into", into)
		contactID = into
		err = r.syncContact(ctx, log.With("contact", contactID), key, contactID, p)
		if !errors.As(err, &gone) {
			return err
		}
	}
	// Deleted, or merged into a contact nothing names: the relay's
	// contact records catch up with the customer's next text.
	log.Warn("relay: contact update: Intercom no longer has the contact; dropped", "contact", contactID, "step", gone.what, "err", gone.err)
	return nil
}

// syncContact makes the update p asks for on contactID.
func (r *Relay) syncContact(ctx context.Context, log *slog.Logger, key store.ThreadKey, contactID string, p contactSyncJob) error {
	cs := r.cfg.ContactSync
	switch {
	case p.OptOut && cs.optOutOn():
		return r.syncOptOut(ctx, log, key, contactID)
	case !p.SentAt.IsZero() && cs.lastSentOn():
		return r.syncLastSent(ctx, log, key, contactID, p.SentAt)
	}
	return nil // turned off since the job was enqueued
}

// contactGoneError is an update Intercom answered 404 or 410 for: the
// contact is gone, deleted or merged.
type contactGoneError struct {
	what string
	err  error
}

func (e *contactGoneError) Error() string {
	return "relay: contact update: " + e.what + ": the contact is gone: " + e.err.Error()
}
func (e *contactGoneError) Unwrap() error { return e.err }

// syncOptOut sets the opt-out attribute and tag of contactID to key's
// opt-out state.
func (r *Relay) syncOptOut(ctx context.Context, log *slog.Logger, key store.ThreadKey, contactID string) error {
	cs := r.cfg.ContactSync
	out, err := r.st.OptedOut(ctx, key)
	if err != nil {
		return fmt.Errorf("relay: contact update: reading opt-out: %w", err)
	}
	if cs.OptOutAttribute != "" {
		_, err := r.ic.UpdateContact(ctx, contactID, intercom.ContactUpdate{CustomAttributes: map[string]any{cs.OptOutAttribute: out}})
		if err != nil {
			return r.contactSyncFailed(log, "setting the opt-out attribute", cs.OptOutAttribute, "True/False", err)
		}
	}
	if cs.OptOutTag != "" {
		if err := r.syncOptOutTag(ctx, log, contactID, out); err != nil {
			return err
		}
	}
	log.Info("relay: opt-out mirrored on the contact", "opted_out", out)
	return nil
}

// syncOptOutTag applies or removes the opt-out tag. A tag id learned
// earlier that Intercom no longer knows (the tag was deleted) is looked up
// again, once.
func (r *Relay) syncOptOutTag(ctx context.Context, log *slog.Logger, contactID string, out bool) error {
	for try := 0; ; try++ {
		tagID, cached, err := r.optOutTagID(ctx)
		if err != nil {
			return r.contactSyncFailed(log, "finding the opt-out tag", "", "", err)
		}
		if out {
			err = r.ic.TagContact(ctx, contactID, tagID)
		} else {
			err = r.ic.UntagContact(ctx, contactID, tagID)
		}
		if err == nil {
			return nil
		}
		if errors.Is(err, intercom.ErrNotFound) && cached && try == 0 {
			r.forgetOptOutTag(tagID)
			continue
		}
		if errors.Is(err, intercom.ErrNotFound) && !out {
			return nil // no such tag on no such contact: nothing to remove
		}
		return r.contactSyncFailed(log, "tagging the contact", "", "", err)
	}
}

// optOutTagID returns the id of ContactSync.OptOutTag, asking Intercom
// (POST /tags, which creates it if needed) the first time, and whether it
// came from the cache. The lock is not held during the call, so that a
// slow Intercom never holds workers waiting on it; two first updates at
// once may both ask, which is harmless.
func (r *Relay) optOutTagID(ctx context.Context) (string, bool, error) {
	r.optTag.mu.Lock()
	id := r.optTag.id
	r.optTag.mu.Unlock()
	if id != "" {
		return id, true, nil
	}
	t, err := r.ic.CreateTag(ctx, r.cfg.ContactSync.OptOutTag)
	if err != nil {
		return "", false, err
	}
	r.optTag.mu.Lock()
	r.optTag.id = t.ID
	r.optTag.mu.Unlock()
	return t.ID, false, nil
}

func (r *Relay) forgetOptOutTag(id string) {
	r.optTag.mu.Lock()
	defer r.optTag.mu.Unlock()
	if r.optTag.id == id {
		r.optTag.id = ""
	}
}

// syncLastSent sets the last-sent attribute of contactID to at, unless a
// later time is already set: an update delayed behind others, or replayed
// from the dead letters, never moves it back.
func (r *Relay) syncLastSent(ctx context.Context, log *slog.Logger, key store.ThreadKey, contactID string, at time.Time) error {
	cs := r.cfg.ContactSync
	rec, err := r.st.Message(ctx, lastSentRecordSID(key.Customer))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("relay: contact update: reading the last-sent record: %w", err)
	default:
		if applied, ok := lastSentOf(rec.PartID); ok && !applied.Before(at.Truncate(time.Second)) {
			log.Debug("relay: a later last-sent time is already on the contact; skipped", "at", at, "applied", applied)
			return nil
		}
	}
	_, err = r.ic.UpdateContact(ctx, contactID, intercom.ContactUpdate{CustomAttributes: map[string]any{cs.LastSentAttribute: intercom.UnixSeconds(at)}})
	if err != nil {
		return r.contactSyncFailed(log, "setting the last-sent attribute", cs.LastSentAttribute, "Date", err)
	}
	rctx, cancel := detached(ctx)
	defer cancel()
	if err := r.st.PutMessage(rctx, store.Message{
		SID: lastSentRecordSID(key.Customer), ConversationID: lastSentRecordConversation,
		PartID: lastSentPartID(at), Thread: key, Status: receivedStatus,
	}); err != nil {
		// The attribute is set; a later update of an older time may set
		// it back until the record is written.
		log.Warn("relay: contact update: recording the last-sent time failed", "err", err)
	}
	return nil
}

// lastSentOf reads the time in a last-sent record's PartID.
func lastSentOf(partID string) (time.Time, bool) {
	s, ok := strings.CutPrefix(partID, lastSentPartPrefix)
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}

// contactSyncFailed decides what a failed update becomes: a
// *contactGoneError when the contact is gone (handleContactSync follows a
// merge or drops it), dead-lettered when Intercom refuses it for
// good (with an error naming the attribute to create when one was set),
// retried otherwise.
func (r *Relay) contactSyncFailed(log *slog.Logger, what, attr, attrType string, err error) error {
	var ie *intercom.Error
	switch {
	case errors.Is(err, intercom.ErrNotFound), errors.Is(err, intercom.ErrGone):
		// Deleted, or merged without a link to follow: handleContactSync
		// follows a merge or drops the update.
		return &contactGoneError{what: what, err: err}
	case attr != "" && errors.As(err, &ie) && (ie.StatusCode == 400 || ie.StatusCode == 422):
		log.Error("relay: contact update: Intercom refused the custom attribute; create it as a contact data attribute (Settings > Data > People) of type "+attrType+", or correct Config.ContactSync",
			"attribute", attr, "err", err)
		return permanent(fmt.Errorf("relay: contact update: %s: Intercom refused custom attribute %q (does the workspace have a %s contact data attribute by that name?): %w", what, attr, attrType, err))
	case refused(err):
		log.Error("relay: contact update: Intercom refused it", "step", what, "err", err)
		return permanent(fmt.Errorf("relay: contact update: %s: %w", what, err))
	}
	return fmt.Errorf("relay: contact update: %s: %w", what, err)
}
