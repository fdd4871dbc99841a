package relay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

type attachment struct {
	URL         string `json:"url"`
	Name        string `json:"name,omitempty"`
	ContentType string `json:"content_type,omitempty"`
}

type part struct {
	ID          string       `json:"id"`
	Type        string       `json:"type"`
	AuthorType  string       `json:"author_type"`
	Body        string       `json:"body"`
	Attachments []attachment `json:"attachments,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
}

// intercomJob is what the relay keeps of an Intercom notification.
type intercomJob struct {
	NotificationID string `json:"notification_id"`
	Topic          string `json:"topic"`
	ConversationID string `json:"conversation_id"`
	Parts          []part `json:"parts,omitempty"`
	// ContactID is the customer the conversation was started by, and
	// ConversationCreatedAt when: they tell a reply on a conversation an
	// unsure attempt of the relay may have started from one on a chat.
	ContactID             string    `json:"contact_id,omitempty"`
	ConversationCreatedAt time.Time `json:"conversation_created_at,omitzero"`
	// State is the conversation's state ("open", "closed", "snoozed") as
	// of StateAt, Intercom's time of the change (the conversation's
	// updated_at, or the notification's created_at).
	State   string    `json:"state,omitempty"`
	StateAt time.Time `json:"state_at,omitzero"`
	// PageTagAt is when the paging tag was applied, on a
	// conversation_part.tag.created notification that pages (page.go).
	PageTagAt time.Time `json:"page_tag_at,omitzero"`
}

// unknownConversationAttempts is how often a reply on a young conversation
// the relay has no record of is looked at again before it is taken for one
// on a conversation the relay does not carry (a chat).
const unknownConversationAttempts = 5

// errNotYetOurs defers a reply on a conversation the relay has no record of
// yet.
var errNotYetOurs = errors.New("relay: conversation not (yet) one the relay carries")

// errStartUnconfirmed dead-letters a reply on a conversation that an unsure
// attempt of the relay may have started but that never became the
// customer's thread.
var errStartUnconfirmed = errors.New("relay: reply on a conversation that a customer's text may have started, but that the relay could not confirm as their SMS thread; not sent")

func (r *Relay) handleIntercom(ctx context.Context, j intercomJob, job store.Job) error {
	keyOfConv, err := r.st.ThreadByConversation(ctx, j.ConversationID)
	if errors.Is(err, store.ErrNotFound) {
		return r.unknownConversation(ctx, j, job)
	}
	if err != nil {
		return fmt.Errorf("relay: reading conversation mapping: %w", err)
	}
	for _, p := range j.Parts {
		if err := r.relayPart(ctx, keyOfConv, j.ConversationID, p); err != nil {
			return err
		}
	}
	switch j.Topic {
	case intercom.TopicAdminClosed, intercom.TopicAdminOpened:
		return r.setState(ctx, keyOfConv, j)
	case intercom.TopicPartTagCreated:
		return r.pageOnTag(ctx, keyOfConv, j)
	}
	return nil
}

// unknownConversation decides about a job on a conversation the relay has
// no record of. An agent's reply accepted by the webhook handler must end
// sent or dead-lettered, never dropped unsent, when the conversation may be
// the relay's: one an attempt to start a conversation for the same contact,
// at about the time it was created, ended without an answer. The reply waits
// for that attempt's job to resolve the doubt, and is dead-lettered (with a
// note) if it never does. Any other reply is looked at a few times, since
// the record of a conversation the relay has just started may be on its
// way, and then taken for one on a conversation the relay does not carry.
func (r *Relay) unknownConversation(ctx context.Context, j intercomJob, job store.Job) error {
	if len(j.Parts) == 0 {
		return nil // a state change on a conversation the relay does not carry
	}
	pending, err := r.startPending(ctx, j)
	if err != nil {
		return err
	}
	log := r.log.With("conversation", j.ConversationID)
	switch {
	case pending && job.Attempt >= r.cfg.MaxAttempts:
		return permanent(errStartUnconfirmed)
	case pending:
		return deferFor(errNotYetOurs, r.backoff(job.Attempt))
	case job.Attempt < unknownConversationAttempts:
		return deferFor(errNotYetOurs, time.Duration(job.Attempt)*r.cfg.RetryBase)
	}
	log.Info("relay: reply on a conversation the relay does not carry; not sent")
	r.m.withheld(ctx, "not_relay_conversation")
	return nil
}

// startPending reports whether an unsure attempt to start a conversation for
// j's contact was made around the time j's conversation was created.
func (r *Relay) startPending(ctx context.Context, j intercomJob) (bool, error) {
	if j.ContactID == "" || j.ConversationCreatedAt.IsZero() {
		return false, nil
	}
	// Clocks differ: look a couple of minutes either side.
	for d := -2; d <= 2; d++ {
		ok, err := r.st.Marked(ctx, string(markUnsureStartAround(j.ContactID, j.ConversationCreatedAt.Add(time.Duration(d)*time.Minute))))
		if err != nil {
			return false, fmt.Errorf("relay: reading unsure start record: %w", err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// setState records that a conversation was closed or re-opened, if it is
// still its thread's current one and the change is not older than the one
// the thread already has: Intercom redelivers a notification whose first
// delivery failed, after later ones.
func (r *Relay) setState(ctx context.Context, key store.ThreadKey, j intercomJob) error {
	th, err := r.st.Thread(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("relay: reading thread: %w", err)
	}
	if th.ConversationID != j.ConversationID {
		return nil // an older conversation of the thread
	}
	if !j.StateAt.IsZero() && j.StateAt.Before(th.StateAt) {
		r.log.Info("relay: ignoring a state change older than the thread's", "conversation", j.ConversationID,
			"topic", j.Topic, "change_at", j.StateAt, "thread_state_at", th.StateAt)
		return nil
	}
	th.State = conversationState(j)
	if !j.StateAt.IsZero() {
		th.StateAt = j.StateAt
	}
	if err := r.st.PutThread(ctx, th); err != nil {
		return fmt.Errorf("relay: storing thread state: %w", err)
	}
	return nil
}

// conversationState is the state j reports: the conversation's own, when
// the notification carries it, else what its topic implies. A snoozed
// conversation is open for threading: a customer's text wakes it.
func conversationState(j intercomJob) store.ConversationState {
	switch j.State {
	case "closed":
		return store.StateClosed
	case "open", "snoozed":
		return store.StateOpen
	}
	if j.Topic == intercom.TopicAdminClosed {
		return store.StateClosed
	}
	return store.StateOpen
}

// relayPart sends one agent part to the customer, once.
func (r *Relay) relayPart(ctx context.Context, key store.ThreadKey, convID string, p part) error {
	if !relayable(p.Type, p.AuthorType, p.Body, len(p.Attachments) > 0) || p.ID == "" {
		return nil
	}
	log := r.log.With("conversation", convID, "part", p.ID, "to", twiliosms.MaskAddress(key.Customer))
	done, err := r.st.Marked(ctx, string(markPartRelayed(p.ID)))
	if err != nil {
		return fmt.Errorf("relay: reading part record: %w", err)
	}
	if done {
		log.Info("relay: part already relayed; not sent again")
		r.m.withheld(ctx, "already_relayed")
		return nil
	}
	opted, err := r.st.OptedOut(ctx, key)
	if err != nil {
		return fmt.Errorf("relay: reading opt-out: %w", err)
	}
	if opted {
		log.Info("relay: customer opted out; reply not sent")
		if _, err := r.ic.AddNote(ctx, convID, r.cfg.NoteAuthor, noteOptedOut(key.Customer, key.Sender)); err != nil {
			return fmt.Errorf("relay: adding opt-out note: %w", err)
		}
		r.m.withheld(ctx, "opted_out")
		return r.markPart(ctx, p.ID)
	}

	out, ok := composeReply(p, key.Customer, r.cfg.Cost)
	if !ok {
		log.Info("relay: reply has nothing to send")
		r.m.withheld(ctx, "empty")
		return r.markPart(ctx, p.ID)
	}
	if out.held {
		log.Info("relay: reply longer than the segment cap; not sent", "segments", out.cost.Segments, "encoding", out.cost.Encoding)
		if _, err := r.ic.AddNote(ctx, convID, r.cfg.NoteAuthor, noteOverCap(out.cost, r.cfg.Cost.MaxSegments, firstUCS2(out.body))); err != nil {
			return fmt.Errorf("relay: adding segment cap note: %w", err)
		}
		r.m.withheld(ctx, "over_segment_cap")
		return r.markPart(ctx, p.ID)
	}
	for i, chunk := range out.chunks {
		if len(out.chunks) > 1 {
			if sent, err := r.st.Marked(ctx, string(markChunkSent(p.ID, i))); err != nil {
				return fmt.Errorf("relay: reading part record: %w", err)
			} else if sent {
				continue
			}
		}
		msg := twiliosms.Message{To: key.Customer, Body: chunk, StatusCallback: r.cfg.StatusCallbackURL}
		if i == 0 {
			msg.MediaURLs = out.media
		}
		if r.cfg.MessagingServiceSID != "" && !twiliosms.IsWhatsApp(key.Sender) {
			msg.MessagingServiceSID = r.cfg.MessagingServiceSID
		} else {
			msg.From = key.Sender
		}
		e := sideEffect[*twiliosms.Sent]{
			what:      "sending a reply",
			unsure:    markUnsureSend(p.ID, i),
			do:        func(ctx context.Context) (*twiliosms.Sent, error) { return r.tw.Send(ctx, msg) },
			ambiguous: twiliosms.MaybeSent,
		}
		if r.tw.canList() {
			e.look = func(ctx context.Context) (*twiliosms.Sent, bool, error) {
				return r.sentBefore(ctx, msg, p.ID, p.CreatedAt)
			}
		}
		sent, _, err := once(ctx, r, e)
		if err != nil {
			if !twiliosms.IsPermanent(err) {
				return fmt.Errorf("relay: sending reply: %w", err)
			}
			return r.sendFailed(ctx, key, convID, p.ID, err)
		}
		log.Info("relay: reply sent", "sid", sent.SID)
		if err := r.recordSent(ctx, key, convID, p.ID, sent, i, len(out.chunks) > 1); err != nil {
			return err
		}
	}
	// The time of the last text, on the contact (contactsync.go).
	if err := r.enqueueLastSent(ctx, key, "", time.Now()); err != nil {
		return err
	}
	return r.markPart(ctx, p.ID)
}

// recordSent records a text Twilio accepted, right after the send and
// whatever happened to the job's context meanwhile.
func (r *Relay) recordSent(ctx context.Context, key store.ThreadKey, convID, partID string, sent *twiliosms.Sent, chunk int, chunked bool) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := r.st.PutMessage(ctx, store.Message{
		SID: sent.SID, ConversationID: convID, PartID: partID, Thread: key, Status: sent.Status,
	}); err != nil {
		return fmt.Errorf("relay: recording sent message: %w", err)
	}
	if chunked {
		if err := r.st.Mark(ctx, string(markChunkSent(partID, chunk))); err != nil {
			return fmt.Errorf("relay: recording part progress: %w", err)
		}
	}
	return nil
}

// SentLister is an optional capability of an [SMSSender]: listing the latest
// messages to an address. *twiliosms.Client has it. With it, a job whose
// earlier attempt's send had an unknown outcome (its answer lost to a
// timeout, say) first looks whether that text was created after all before
// sending it again.
type SentLister interface {
	Recent(ctx context.Context, to string, since time.Time) ([]twiliosms.Record, error)
}

// sentBefore looks for msg among the texts Twilio created since the part was
// written, and returns it as sent if it is there. When Twilio's list cannot
// be read for good (say, the credentials may not list messages), it says so
// in the log and lets the text be sent again: a duplicate is better than a
// loss.
func (r *Relay) sentBefore(ctx context.Context, msg twiliosms.Message, partID string, partCreated time.Time) (*twiliosms.Sent, bool, error) {
	since := partCreated.Add(-time.Minute)
	if partCreated.IsZero() {
		since = time.Now().Add(-24 * time.Hour)
	}
	recent, err := r.tw.Recent(ctx, msg.To, since)
	if err != nil && twiliosms.IsPermanent(err) {
		r.log.Warn("relay: cannot read Twilio's message list; sending again, perhaps twice", "err", err)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	for _, rec := range recent {
		if !strings.HasPrefix(rec.Direction, "outbound") || rec.Body != msg.Body || msg.From != "" && rec.From != msg.From {
			continue
		}
		// A text the relay recorded for another part (the agent wrote the
		// same words twice) is not this one.
		if m, err := r.st.Message(ctx, rec.SID); err == nil && m.PartID != partID {
			continue
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, false, fmt.Errorf("relay: reading message record: %w", err)
		}
		return &twiliosms.Sent{SID: rec.SID, Status: rec.Status}, true, nil
	}
	return nil, false, nil
}

// markPart records that an agent's part is done with (sent, or withheld
// with a note), on a context that survives the job's.
func (r *Relay) markPart(ctx context.Context, partID string) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := r.st.Mark(ctx, string(markPartRelayed(partID))); err != nil {
		return fmt.Errorf("relay: recording relayed part: %w", err)
	}
	return nil
}

// sendFailed makes a permanent send failure visible to the agents.
func (r *Relay) sendFailed(ctx context.Context, key store.ThreadKey, convID, partID string, sendErr error) error {
	code, _ := twiliosms.ErrorCode(sendErr)
	r.log.Warn("relay: reply could not be sent", "conversation", convID, "code", code, "err", sendErr)
	if code == twiliosms.CodeOptedOut {
		if err := r.st.SetOptedOut(ctx, key, true); err != nil {
			return fmt.Errorf("relay: recording opt-out: %w", err)
		}
		if err := r.enqueueOptOutSync(ctx, key, partID); err != nil {
			return err
		}
	}
	if _, err := r.ic.AddNote(ctx, convID, r.cfg.NoteAuthor, noteFailure(failedNotSent, code, "")); err != nil {
		return fmt.Errorf("relay: adding failure note: %w", err)
	}
	if err := r.reopenWindow(ctx, key, convID, code); err != nil {
		return err
	}
	r.m.withheld(ctx, "refused")
	return r.markPart(ctx, partID)
}
