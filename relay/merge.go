package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// This file follows contacts merged in Intercom. An agent (or the relay
// itself, for the identity bridge) merges the lead the relay made for a
// number into a user; Intercom moves the lead's conversations to the user,
// and from then on a call naming the lead fails: GET /contacts/{id}
// answers 410 contact_merged with a Link to the user (or, as the merge
// endpoint's own text says, 404), and starting a conversation, replying
// as the lead or noting it answer 404.
//
// The relay learns of a merge only from such a failure: it keeps the
// lead's id (the store's phone → contact, each thread's ContactID) and
// calls Intercom with it until a call fails. Then it finds the contact the
// lead became, without creating one: the Link of a 410, else the contact
// Intercom answers for the lead's id (a 410 the client follows), else the
// conversation the call was about (Intercom moved it to the target), else a
// search by phone (merged contacts are not found; PreferredContact picks
// among the rest). It adopts that contact (adoptContact) and makes the
// same call again as it, within the same attempt: a call that failed with
// 404 or 410 did nothing, so "look before repeating" has nothing to look
// for. Only when nothing is found does the relay forget the stored contact
// as before, so that the next attempt searches again and, at worst,
// creates a lead.
//
// A thread keeps its conversation across a merge: a thread whose ContactID
// is no longer the customer's contact keeps its conversation when Intercom
// says the conversation now belongs to that contact (keepsConversation),
// and takes the new ContactID with the next text.

// adoptContact records that contact from of the customer phone (bare
// E.164, as bareNumber gives it) is now contact into: merged into it in
// Intercom, by an agent or by the relay. It replaces from with into in the
// store's phone → contact (and stores into when the phone had no contact);
// a phone already mapped to a third contact is left alone, as that mapping
// is newer than what the caller knows. Threads that name from take into
// lazily, with their next text (keepsConversation): they cannot be listed
// by customer. It is idempotent, and safe across replicas as far as the
// jobs of one customer run one at a time.
func (r *Relay) adoptContact(ctx context.Context, phone, from, into string) error {
	phone, from, into = strings.TrimSpace(phone), strings.TrimSpace(from), strings.TrimSpace(into)
	switch {
	case phone == "":
		return errors.New("relay: adopting a merged contact: empty phone")
	case from == "" || into == "":
		return errors.New("relay: adopting a merged contact: empty contact id")
	case from == into:
		return fmt.Errorf("relay: adopting a merged contact: %s cannot be merged into itself", from)
	}
	stored, err := r.st.Contact(ctx, phone)
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("relay: adopting a merged contact: reading contact: %w", err)
	case err == nil && stored == into:
		return nil
	case err == nil && stored != from:
		r.log.Debug("relay: a merged contact's number maps to another contact already; leaving it",
			"phone", twiliosms.MaskAddress(phone), "from", from, "into", into, "stored", stored)
		return nil
	}
	sctx, cancel := detached(ctx)
	defer cancel()
	if err := r.st.SetContact(sctx, phone, into); err != nil {
		return fmt.Errorf("relay: adopting a merged contact: storing contact: %w", err)
	}
	r.log.Info("relay: contact was merged in Intercom; following it",
		"phone", twiliosms.MaskAddress(phone), "from", from, "into", into)
	return nil
}

// contactGone reports whether err, from a call that named a contact, may
// mean that the contact was merged: 410 Gone or 404 Not Found.
func contactGone(err error) bool {
	return errors.Is(err, intercom.ErrGone) || errors.Is(err, intercom.ErrNotFound)
}

// mergedInto finds the contact that contact from of the customer phone
// became, after callErr (from a call naming from) said it is gone. conv,
// when not nil, is the conversation the call was about, as Intercom
// answers it now; convID names it otherwise ("" for none). It returns ""
// with no error when from was not merged (it is still there) or when
// nothing says what it became; it never creates a contact.
func (r *Relay) mergedInto(ctx context.Context, phone, from, convID string, conv *intercom.Conversation, callErr error) (string, error) {
	if into, ok := intercom.MergedInto(callErr); ok {
		if into == from {
			return "", nil
		}
		return into, nil
	}
	if !contactGone(callErr) {
		return "", nil
	}
	// The contact itself: a 410 with a Link, which the client follows.
	if r.ic.reader != nil {
		c, err := r.ic.Contact(ctx, from)
		switch {
		case err == nil && c.ID != from && c.ID != "":
			return c.ID, nil
		case err == nil:
			return "", nil // still there: the failure was about something else
		case !contactGone(err):
			return "", fmt.Errorf("relay: reading a contact that may have been merged: %w", err)
		}
	}
	// The conversation: Intercom moves a merged contact's conversations to
	// the contact it was merged into.
	if conv == nil && convID != "" {
		c, err := r.ic.Conversation(ctx, convID)
		switch {
		case err == nil:
			conv = c
		case !errors.Is(err, intercom.ErrNotFound):
			return "", fmt.Errorf("relay: reading the conversation of a contact that may have been merged: %w", err)
		}
	}
	if conv != nil {
		var others []string
		for _, c := range conv.Contacts {
			if c.ID != "" && c.ID != from && !slices.Contains(others, c.ID) {
				others = append(others, c.ID)
			}
		}
		if len(others) == 1 && !conversationHas(conv, from) {
			return others[0], nil
		}
	}
	// The number: merged contacts are not found.
	found, err := r.ic.SearchContactsByPhone(ctx, phone)
	if err != nil {
		return "", fmt.Errorf("relay: searching the contact of a merged one: %w", err)
	}
	for _, c := range found {
		if c.ID == from {
			return "", nil // found, so not merged
		}
	}
	if c, ok := intercom.PreferredContact(found); ok {
		return c.ID, nil
	}
	return "", nil
}

// followMerge is what a call naming contact from of the customer phone
// does when it failed with callErr: when from was merged, it adopts the
// contact from became and returns its id, to make the call again as it;
// otherwise it returns "" and the caller handles callErr as before. conv
// and convID are as for mergedInto.
func (r *Relay) followMerge(ctx context.Context, phone, from, convID string, conv *intercom.Conversation, callErr error) (string, error) {
	into, err := r.mergedInto(ctx, phone, from, convID, conv, callErr)
	if err != nil || into == "" {
		return "", err
	}
	if err := r.adoptContact(ctx, phone, from, into); err != nil {
		return "", err
	}
	return into, nil
}

// notMadeAgain is the error of a side effect whose request failed cleanly
// with callErr (a 404 or 410: nothing was done) and was not made again
// because finding the merged contact's target failed with err. It matches
// intercom.ErrNotSent, so that it is not taken for an ambiguous outcome,
// and err, which decides whether the job is retried; it does not match
// callErr's 404, so that the caller does not forget the contact on a
// transient failure.
func notMadeAgain(callErr, err error) error {
	return fmt.Errorf("%w: the contact is gone (%v) and finding what it was merged into failed: %w", intercom.ErrNotSent, callErr, err)
}

// keepsConversation reports whether th, whose ContactID is not contactID
// (the customer's contact now), keeps its conversation: when Intercom says
// the conversation belongs to contactID, as after a merge of th.ContactID
// into it. A conversation Intercom no longer has is not kept.
func (r *Relay) keepsConversation(ctx context.Context, th store.Thread, contactID string) (bool, error) {
	if th.ConversationID == "" {
		return false, nil
	}
	conv, err := r.ic.Conversation(ctx, th.ConversationID)
	switch {
	case errors.Is(err, intercom.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("relay: reading the conversation of a thread whose contact changed: %w", err)
	}
	return conversationHas(conv, contactID), nil
}

func conversationHas(conv *intercom.Conversation, contactID string) bool {
	for _, c := range conv.Contacts {
		if c.ID == contactID {
			return true
		}
	}
	return false
}

// contactNoteLook returns the look of [once] for a note with body's text on
// contact contactID, made by an attempt after since (less a minute for
// clocks: Intercom stamps created_at with its own): nil, so that the note
// is added again, when the client cannot list a contact's notes or since
// is unknown.
func contactNoteLook[T any](r *Relay, contactID, body string, since time.Time) func(ctx context.Context) (T, bool, error) {
	if r.ic.notes == nil || since.IsZero() {
		return nil
	}
	return func(ctx context.Context) (T, bool, error) {
		var zero T
		notes, err := r.ic.ContactNotes(ctx, contactID, since.Add(-time.Minute))
		if err != nil {
			return zero, false, err
		}
		want := SMSText(body)
		for _, n := range notes {
			if SMSText(n.Body) == want {
				return zero, true, nil
			}
		}
		return zero, false, nil
	}
}

// noteContact adds an internal note to contact contactID of the customer
// phone, following a merge: when Intercom says the contact is gone and it
// was merged, the note goes to the contact it became. It returns the
// contact noted. Call it only when r.ic.noter is set.
func (r *Relay) noteContact(ctx context.Context, phone, contactID, body string) (string, error) {
	_, err := r.ic.AddContactNote(ctx, contactID, r.cfg.NoteAuthor, body)
	if err == nil || !contactGone(err) {
		return contactID, err
	}
	into, ferr := r.followMerge(ctx, phone, contactID, "", nil, err)
	if ferr != nil {
		return contactID, fmt.Errorf("%w (and finding what it was merged into: %w)", err, ferr)
	}
	if into == "" {
		return contactID, err
	}
	if _, err := r.ic.AddContactNote(ctx, into, r.cfg.NoteAuthor, body); err != nil {
		return into, fmt.Errorf("contact %s was merged into %s: %w", contactID, into, err)
	}
	return into, nil
}
