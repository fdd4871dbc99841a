package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

type media struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type,omitempty"`
}

// inboundJob is a customer's text, as enqueued by TwilioHandler.
type inboundJob struct {
	MessageSID string    `json:"message_sid"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Body       string    `json:"body"`
	Media      []media   `json:"media,omitempty"`
	OptOutType string    `json:"opt_out_type,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	// MessagingServiceSID is the service whose pool To belongs to, if any.
	MessagingServiceSID string `json:"messaging_service_sid,omitempty"`
}

// routeJob applies a Route to a conversation the relay started.
type routeJob struct {
	ConversationID string `json:"conversation_id"`
	Sender         string `json:"sender"`
}

// handleInbound puts a customer's text on the right Intercom conversation.
//
// Progress is recorded so that a retried job repeats no side effect that
// already happened: once the text is on a conversation, the message record
// (SID → conversation) says so, and a retry only finishes the bookkeeping.
func (r *Relay) handleInbound(ctx context.Context, in inboundJob, _ store.Job) error {
	if agent, err := r.acknowledgePage(ctx, in); agent || err != nil {
		return err // an agent's text: never a customer's (page.go)
	}
	key := r.threadKey(in)
	if err := key.Validate(); err != nil {
		return permanent(fmt.Errorf("relay: inbound message %s: %w", in.MessageSID, err))
	}
	if err := r.carryOver(ctx, key, in); err != nil {
		return err
	}
	log := r.log.With("message", in.MessageSID, "from", twiliosms.MaskAddress(in.From), "to", in.To)

	optChange, err := r.applyOptChange(ctx, key, in)
	if err != nil {
		return err
	}

	// Already on a conversation? Then only the bookkeeping is left.
	if m, err := r.st.Message(ctx, in.MessageSID); err == nil && m.ConversationID != "" {
		log.Debug("relay: text already delivered; finishing bookkeeping", "conversation", m.ConversationID)
		return r.afterDelivery(ctx, key, in, delivery{convID: m.ConversationID, started: m.Started || m.Status == legacyStartedStatus}, optChange)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("relay: reading message record: %w", err)
	}

	contactID, err := r.contactFor(ctx, in.From)
	if err != nil {
		return err
	}

	d, err := r.placeText(ctx, key, contactID, in, log)
	if err != nil {
		return err
	}
	return r.afterDelivery(ctx, key, in, d, optChange)
}

// placeText puts the customer's text in on the conversation of key's
// thread, as contact contactID, or starts a conversation with it when the
// thread has none the text may go on: its contact changed (and not by a
// merge, which keeps the conversation), it idled past IdleTimeout, its
// conversation was closed (without Reopen) or is gone. Live texts
// (handleInbound) and imported ones (backfill.go) follow the same rules.
func (r *Relay) placeText(ctx context.Context, key store.ThreadKey, contactID string, in inboundJob, log *slog.Logger) (delivery, error) {
	th, err := r.st.Thread(ctx, key)
	moved := false
	if err == nil && th.ContactID != "" && th.ContactID != contactID {
		// After a merge, Intercom moved the conversation to the contact
		// the thread's was merged into: keep it (merge.go).
		kept, kerr := r.keepsConversation(ctx, th, contactID)
		if kerr != nil {
			return delivery{}, kerr
		}
		moved = !kept
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return delivery{}, fmt.Errorf("relay: reading thread: %w", err)
	case moved:
		log.Info("relay: contact of thread changed; starting a new conversation")
	case r.cfg.IdleTimeout > 0 && !th.LastInbound.IsZero() && in.ReceivedAt.Sub(th.LastInbound) > r.cfg.IdleTimeout:
		log.Info("relay: thread idle past IdleTimeout; starting a new conversation", "conversation", th.ConversationID)
	case th.State == store.StateClosed && !r.cfg.Reopen:
		log.Info("relay: conversation closed; starting a new one", "conversation", th.ConversationID)
	default:
		d, replied, err := r.replyOnThread(ctx, th, contactID, in)
		if err != nil || replied {
			return d, err
		}
		log.Info("relay: conversation no longer exists; starting a new one", "conversation", th.ConversationID)
		if err := r.st.DeleteThread(ctx, key); err != nil {
			return delivery{}, fmt.Errorf("relay: forgetting thread: %w", err)
		}
	}

	d, err := r.startConversation(ctx, key, contactID, th.ConversationID, in)
	if err != nil {
		return delivery{}, err
	}
	log.Info("relay: started conversation", "conversation", d.convID)
	return d, nil
}

// delivery is where a customer's text landed.
type delivery struct {
	convID    string
	contactID string    // "" when not known (a retry finishing bookkeeping)
	started   bool      // the text started convID
	stateAt   time.Time // Intercom's time of the conversation's last change, if known
}

// startConversation starts a conversation with the customer's text, once:
// an earlier attempt that may have started it is looked for first. A
// contact Intercom says is gone, merged into another, is followed
// (merge.go); oldConvID, the thread's earlier conversation if any, helps
// find what it became.
func (r *Relay) startConversation(ctx context.Context, key store.ThreadKey, contactID, oldConvID string, in inboundJob) (delivery, error) {
	var since time.Time // what startedBefore searches since, when the relay can look
	if r.ic.canFind() {
		var err error
		if since, err = r.startLookSince(ctx, key, in); err != nil {
			return delivery{}, err
		}
	}
	attemptAt := time.Now()
	create := func(ctx context.Context, id string) (*intercom.ConversationMessage, error) {
		return r.ic.CreateConversation(ctx, intercom.ConversationCreate{
			FromType:       "contact",
			FromID:         id,
			Body:           inboundText(in, false),
			AttachmentURLs: mediaURLs(in.Media),
		})
	}
	e := sideEffect[*intercom.ConversationMessage]{
		what:   "starting a conversation",
		unsure: markUnsureStart(in.MessageSID),
		extra:  []marker{markUnsureStartAround(contactID, attemptAt)},
		do: func(ctx context.Context) (*intercom.ConversationMessage, error) {
			msg, err := create(ctx, contactID)
			if err == nil || !contactGone(err) {
				return msg, err
			}
			into, ferr := r.followMerge(ctx, bareNumber(in.From), contactID, oldConvID, nil, err)
			if ferr != nil {
				return nil, notMadeAgain(err, ferr)
			}
			if into == "" {
				return nil, err
			}
			// An earlier attempt, made as the merged contact, may have
			// started the conversation that Intercom then moved.
			if r.ic.canFind() {
				if id, err := r.startedBefore(ctx, into, []string{into, contactID}, in, since); err != nil {
					return nil, err
				} else if id != "" {
					contactID = into
					return &intercom.ConversationMessage{ConversationID: id}, nil
				}
			}
			contactID = into
			msg, err = create(ctx, into)
			if err != nil && intercom.IsAmbiguous(err) {
				// The extra marker above names the merged contact; an
				// agent's reply on this one's conversation looks for it.
				mctx, cancel := detached(ctx)
				defer cancel()
				if merr := r.st.Mark(mctx, string(markUnsureStartAround(into, attemptAt))); merr != nil {
					r.log.Error("relay: recording an unsure outcome failed", "effect", "starting a conversation", "err", merr)
				}
			}
			return msg, err
		},
		ambiguous: intercom.IsAmbiguous,
	}
	if r.ic.canFind() {
		e.look = func(ctx context.Context) (*intercom.ConversationMessage, bool, error) {
			id, err := r.startedBefore(ctx, contactID, []string{contactID}, in, since)
			if id == "" || err != nil {
				return nil, false, err
			}
			return &intercom.ConversationMessage{ConversationID: id}, true, nil
		}
	}
	msg, _, err := once(ctx, r, e)
	if err != nil {
		if errors.Is(err, intercom.ErrNotFound) {
			// The contact is gone (deleted, or merged into a contact
			// nothing names): forget it and retry.
			if derr := r.st.DeleteContact(ctx, bareNumber(in.From)); derr != nil {
				return delivery{}, fmt.Errorf("relay: forgetting contact: %w", derr)
			}
		}
		return delivery{}, fmt.Errorf("relay: creating conversation: %w", err)
	}
	if msg.ConversationID == "" {
		return delivery{}, errors.New("relay: Intercom created a message without a conversation id")
	}
	d := delivery{convID: msg.ConversationID, contactID: contactID, started: true, stateAt: msg.CreatedAt}
	return d, r.recordDelivery(ctx, key, in, d)
}

// replyOnThread adds the text to th's conversation as the contact, once. It
// reports false, with no error, when Intercom no longer has the
// conversation.
//
// A contact Intercom says is gone, merged into another, is followed
// (merge.go): the text is posted as the contact it became.
func (r *Relay) replyOnThread(ctx context.Context, th store.Thread, contactID string, in inboundJob) (delivery, bool, error) {
	body := inboundText(in, true)
	reply := func(ctx context.Context, id string) (*intercom.Conversation, error) {
		return r.ic.ReplyAsContact(ctx, th.ConversationID, intercom.ContactReply{
			IntercomUserID: id,
			Body:           body,
			AttachmentURLs: mediaURLs(in.Media),
		})
	}
	// An earlier attempt may have posted the text as the thread's former
	// contact, before a merge.
	authors := []string{contactID}
	if th.ContactID != "" && th.ContactID != contactID {
		authors = append(authors, th.ContactID)
	}
	conv, found, err := once(ctx, r, sideEffect[*intercom.Conversation]{
		what:   "posting the customer's text",
		unsure: markUnsureReply(in.MessageSID),
		look: func(ctx context.Context) (*intercom.Conversation, bool, error) {
			posted, err := r.alreadyPosted(ctx, th.ConversationID, authors, body, in.ReceivedAt)
			if err != nil && !errors.Is(err, intercom.ErrNotFound) {
				return nil, false, err
			}
			return nil, posted, nil
		},
		do: func(ctx context.Context) (*intercom.Conversation, error) {
			c, err := reply(ctx, contactID)
			if err == nil || !contactGone(err) {
				return c, err
			}
			// Either the conversation or the contact is gone. A
			// conversation that is gone is handled below.
			var now *intercom.Conversation
			if _, merged := intercom.MergedInto(err); !merged {
				cur, cerr := r.ic.Conversation(ctx, th.ConversationID)
				switch {
				case errors.Is(cerr, intercom.ErrNotFound):
					return nil, err // the conversation is gone
				case cerr != nil:
					return nil, notMadeAgain(err, cerr)
				}
				now = cur
			}
			into, ferr := r.followMerge(ctx, bareNumber(th.Key.Customer), contactID, th.ConversationID, now, err)
			if ferr != nil {
				return nil, notMadeAgain(err, ferr)
			}
			if into == "" {
				return nil, err
			}
			contactID = into
			return reply(ctx, into)
		},
		ambiguous: intercom.IsAmbiguous,
	})
	if errors.Is(err, intercom.ErrNotFound) {
		// Either the conversation or the contact is gone; ask which.
		if _, cerr := r.ic.Conversation(ctx, th.ConversationID); errors.Is(cerr, intercom.ErrNotFound) {
			return delivery{}, false, nil
		} else if cerr != nil {
			return delivery{}, false, fmt.Errorf("relay: checking conversation: %w", cerr)
		}
		if derr := r.st.DeleteContact(ctx, bareNumber(th.Key.Customer)); derr != nil {
			return delivery{}, false, fmt.Errorf("relay: forgetting contact: %w", derr)
		}
		return delivery{}, false, fmt.Errorf("relay: replying as contact: contact is gone: %w", err)
	}
	if err != nil {
		return delivery{}, false, fmt.Errorf("relay: replying as contact: %w", err)
	}
	d := delivery{convID: th.ConversationID, contactID: contactID}
	if conv != nil {
		d.stateAt = conv.UpdatedAt
	}
	if err := r.recordDelivery(ctx, th.Key, in, d); err != nil {
		return delivery{}, false, err
	}
	if found || conv == nil {
		return d, true, nil
	}
	// Remember which part this text became, so that a later unsure retry of
	// another text with the same words does not take it for its own.
	for i := len(conv.Parts) - 1; i >= 0; i-- {
		if p := conv.Parts[i]; p.Author.ID == contactID && p.ID != "" {
			mctx, cancel := detached(ctx)
			err := r.st.Mark(mctx, string(markContactPart(p.ID)))
			cancel()
			if err != nil {
				r.log.Warn("relay: recording the customer's part", "err", err)
			}
			break
		}
	}
	return d, true, nil
}

// startLookSince returns the time from which startedBefore searches for
// the conversation an earlier attempt to start one with text in may have
// made: the start of the first attempt, less a minute for clocks (Intercom
// stamps created_at with its own). Intercom stamps a conversation the relay
// makes with the time it is made, not with the time the text was sent,
// which for a text imported from history (backfill.go) is weeks before,
// and a search since then finds more than the one page (150) of a busy
// contact's conversations that the client reads.
//
// The first attempt records its time (a store.Message,
// startAttemptRecordSID) before it acts, and the later ones keep it. An
// attempt that finds no record though an earlier one may have acted (one
// of an earlier release, which did not record it, or a record expired)
// searches since the text arrived, as those releases did.
func (r *Relay) startLookSince(ctx context.Context, key store.ThreadKey, in inboundJob) (time.Time, error) {
	rec, err := r.st.Message(ctx, startAttemptRecordSID(in.MessageSID))
	switch {
	case err == nil:
		if at, ok := startAttemptAt(rec.PartID); ok {
			return at.Add(-time.Minute), nil
		}
		return in.ReceivedAt.Add(-time.Minute), nil
	case !errors.Is(err, store.ErrNotFound):
		return time.Time{}, fmt.Errorf("relay: reading the record of a conversation start's first attempt: %w", err)
	}
	maybe, err := r.st.Marked(ctx, string(markUnsureStart(in.MessageSID)))
	if err != nil {
		return time.Time{}, fmt.Errorf("relay: reading the unsure marker of a conversation start: %w", err)
	}
	if maybe {
		return in.ReceivedAt.Add(-time.Minute), nil
	}
	now := time.Now()
	if err := r.st.PutMessage(ctx, store.Message{SID: startAttemptRecordSID(in.MessageSID), ConversationID: startAttemptRecordConversation,
		PartID: startAttemptPartID(now), Thread: key, Status: receivedStatus}); err != nil {
		return time.Time{}, fmt.Errorf("relay: recording the time of a conversation start's first attempt: %w", err)
	}
	return now.Add(-time.Minute), nil
}

// startAttemptAt reads the time a start-attempt record's PartID holds.
func startAttemptAt(partID string) (time.Time, bool) {
	return unixNanoAfter(partID, startAttemptPartPrefix)
}

// startedBefore looks for the conversation an earlier, unsure attempt to
// start one may have started: one of the contact's, created since since
// (startLookSince), that opens with the text by one of authors (the
// contact, and the one merged into it) and that no other text already
// carries. It returns "" when there is none.
//
// Intercom's search can lag behind a conversation created moments ago; the
// retry delay gives it time, and a miss means a second conversation, never a
// lost text.
func (r *Relay) startedBefore(ctx context.Context, contactID string, authors []string, in inboundJob, since time.Time) (string, error) {
	convs, err := r.ic.SearchConversationsByContact(ctx, contactID, since)
	if err != nil {
		return "", err
	}
	want := SMSText(inboundText(in, false))
	for _, c := range convs {
		if slices.Contains(authors, c.Source.Author.ID) && SMSText(c.Source.Body) == want {
			if _, err := r.st.ThreadByConversation(ctx, c.ID); errors.Is(err, store.ErrNotFound) {
				return c.ID, nil // not one another text already carries
			} else if err != nil {
				return "", fmt.Errorf("relay: reading conversation mapping: %w", err)
			}
		}
	}
	return "", nil
}

// alreadyPosted reports whether conversationID holds a part by one of
// authors with body's text, created since the text arrived (less a minute
// for clocks), that no other text is known to have become.
func (r *Relay) alreadyPosted(ctx context.Context, conversationID string, authors []string, body string, since time.Time) (bool, error) {
	conv, err := r.ic.Conversation(ctx, conversationID)
	if err != nil {
		return false, err
	}
	want := SMSText(body)
	for _, p := range conv.Parts {
		if !slices.Contains(authors, p.Author.ID) || p.CreatedAt.Before(since.Add(-time.Minute)) || SMSText(p.Body) != want {
			continue
		}
		// A part another text became is not this one.
		if known, err := r.st.Marked(ctx, string(markContactPart(p.ID))); err != nil {
			return false, err
		} else if !known {
			return true, nil
		}
	}
	return false, nil
}

// recordDelivery notes that the text is on d.convID, right after the side
// effect and whatever happened to the job's context meanwhile, so that a
// retry does not post it twice.
func (r *Relay) recordDelivery(ctx context.Context, key store.ThreadKey, in inboundJob, d delivery) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	err := r.st.PutMessage(ctx, store.Message{
		SID:            in.MessageSID,
		ConversationID: d.convID,
		Thread:         key,
		Status:         receivedStatus,
		Started:        d.started,
	})
	if err != nil {
		return fmt.Errorf("relay: recording delivered text: %w", err)
	}
	return nil
}

// afterDelivery brings the thread up to date, routes a conversation the text
// started and tells the agent about an opt-out change. Every step is safe to
// repeat. The thread (and with it the conversation → thread mapping that
// lets agents' replies through) is stored first, as early as possible.
func (r *Relay) afterDelivery(ctx context.Context, key store.ThreadKey, in inboundJob, d delivery, optChange int) error {
	th, err := r.st.Thread(ctx, key)
	stale := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		th = store.Thread{Key: key}
	case err != nil:
		return fmt.Errorf("relay: reading thread: %w", err)
	case th.ConversationID == d.convID:
	default:
		// The thread points elsewhere. If convID is one of its older
		// conversations, this is a retry of an old text: leave the thread.
		known, kerr := r.st.ThreadByConversation(ctx, d.convID)
		switch {
		case kerr == nil && known == key:
			stale = true
		case kerr != nil && !errors.Is(kerr, store.ErrNotFound):
			return fmt.Errorf("relay: reading conversation mapping: %w", kerr)
		}
	}
	if !stale {
		// The text is on the conversation now, which makes it open (a
		// contact's reply re-opens a closed one). StateAt moves only with
		// Intercom's own clock, which close and open notifications carry
		// too; without an answer from Intercom it stays as it was.
		pointThread(&th, d, in.ReceivedAt)
		if err := r.st.PutThread(ctx, th); err != nil {
			return fmt.Errorf("relay: storing thread: %w", err)
		}
	}
	if d.started {
		// Routes are by our number, also for a thread of the service.
		if err := r.enqueueRoute(ctx, d.convID, store.ThreadKey{Customer: key.Customer, Sender: in.To}); err != nil {
			return err
		}
	}
	if optChange != 0 {
		// Mirrored on the contact by a job of its own (contactsync.go).
		if err := r.enqueueOptOutSync(ctx, key, in.MessageSID); err != nil {
			return err
		}
		noted, err := r.st.Marked(ctx, string(markOptNote(in.MessageSID)))
		if err != nil {
			return fmt.Errorf("relay: reading opt-out note record: %w", err)
		}
		if !noted {
			if _, err := r.ic.AddNote(ctx, d.convID, r.cfg.NoteAuthor, noteOptChange(in.Body, in.OptOutType, in.To, optChange > 0)); err != nil {
				return fmt.Errorf("relay: adding opt-out note: %w", err)
			}
			mctx, cancel := detached(ctx)
			defer cancel()
			if err := r.st.Mark(mctx, string(markOptNote(in.MessageSID))); err != nil {
				return fmt.Errorf("relay: recording opt-out note: %w", err)
			}
		}
	}
	if stale {
		return nil
	}
	if err := r.schedulePageWait(ctx, key, in, d); err != nil {
		return err
	}
	if err := r.answeredProactive(ctx, key, in, d); err != nil {
		return err
	}
	return r.identify(ctx, key, in, d, optChange)
}

// applyOptChange records an opt-out or opt-in the text asks for, at once,
// before the text is even on a conversation, so that no reply reaches a
// customer who texted STOP. It returns +1 or -1 when the text changed the
// customer's state (then the agents get a note), 0 otherwise: "Yes" from a
// customer who never opted out is just a word. Which text changed the state
// is recorded, so that a retry still owes the note.
func (r *Relay) applyOptChange(ctx context.Context, key store.ThreadKey, in inboundJob) (int, error) {
	want := optOutChange(in.OptOutType, in.Body, twiliosms.IsWhatsApp(in.From))
	if want == 0 {
		return 0, nil
	}
	changed, err := r.st.Marked(ctx, string(markOptChange(in.MessageSID)))
	if err != nil {
		return 0, fmt.Errorf("relay: reading opt-out record: %w", err)
	}
	if !changed {
		out, err := r.st.OptedOut(ctx, key)
		if err != nil {
			return 0, fmt.Errorf("relay: reading opt-out: %w", err)
		}
		if out == (want > 0) {
			return 0, nil
		}
		if err := r.st.Mark(ctx, string(markOptChange(in.MessageSID))); err != nil {
			return 0, fmt.Errorf("relay: recording opt-out change: %w", err)
		}
	}
	if err := r.st.SetOptedOut(ctx, key, want > 0); err != nil {
		return 0, fmt.Errorf("relay: recording opt-out: %w", err)
	}
	return want, nil
}

// enqueueRoute schedules the route of a new conversation, once.
func (r *Relay) enqueueRoute(ctx context.Context, convID string, key store.ThreadKey) error {
	route := r.route(key.Sender)
	if route.empty() {
		return nil
	}
	payload, err := json.Marshal(routeJob{ConversationID: convID, Sender: key.Sender})
	if err != nil {
		return fmt.Errorf("relay: encoding route job: %w", err)
	}
	_, err = r.q.Enqueue(ctx, store.NewJob{
		Kind:      kindRoute,
		Key:       orderKey(key.Customer),
		Payload:   r.withTrace(ctx, payload),
		DedupeKey: dedupeRoute(convID),
		DedupeTTL: 365 * 24 * time.Hour,
	})
	if err != nil && !errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("relay: enqueueing route: %w", err)
	}
	return nil
}

func (r *Relay) route(sender string) Route {
	if rt, ok := r.cfg.Routes[sender]; ok {
		return rt
	}
	return r.cfg.DefaultRoute
}

// handleRoute assigns and tags a new conversation. Each step is idempotent in
// Intercom, so a retry may repeat them safely.
func (r *Relay) handleRoute(ctx context.Context, p routeJob, _ store.Job) error {
	rt := r.route(p.Sender)
	if rt.TeamID != "" {
		if _, err := r.ic.Assign(ctx, p.ConversationID, intercom.Assignment{
			AdminID: r.cfg.NoteAuthor, AssigneeID: rt.TeamID, AssigneeType: "team",
		}); err != nil {
			return fmt.Errorf("relay: assigning conversation to team: %w", err)
		}
	}
	if rt.AdminID != "" {
		if _, err := r.ic.Assign(ctx, p.ConversationID, intercom.Assignment{
			AdminID: r.cfg.NoteAuthor, AssigneeID: rt.AdminID, AssigneeType: "admin",
		}); err != nil {
			return fmt.Errorf("relay: assigning conversation to admin: %w", err)
		}
	}
	for _, tag := range rt.TagIDs {
		if err := r.ic.TagConversation(ctx, p.ConversationID, tag, r.cfg.NoteAuthor); err != nil {
			return fmt.Errorf("relay: tagging conversation: %w", err)
		}
	}
	return nil
}

// contactFor finds the Intercom contact of a customer's phone: the store
// first, then Intercom's search (of several contacts with the number,
// intercom.PreferredContact's: a user before a lead, then the most
// recently updated), then a new lead. Jobs of one customer run one
// at a time, so two first texts never race here; a contact created elsewhere
// meanwhile comes back from CreateContact's conflict recovery.
func (r *Relay) contactFor(ctx context.Context, addr string) (string, error) {
	phone := bareNumber(addr)
	id, err := r.st.Contact(ctx, phone)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("relay: reading contact: %w", err)
	}
	found, err := r.ic.SearchContactsByPhone(ctx, phone)
	if err != nil {
		return "", fmt.Errorf("relay: searching contact: %w", err)
	}
	if c, ok := intercom.PreferredContact(found); ok {
		id = c.ID // a user before a lead, then the latest updated
	} else {
		c, err := r.ic.CreateContact(ctx, intercom.ContactCreate{Role: "lead", Phone: phone})
		if err != nil {
			return "", fmt.Errorf("relay: creating contact: %w", err)
		}
		id = c.ID
	}
	sctx, cancel := detached(ctx)
	defer cancel()
	if err := r.st.SetContact(sctx, phone, id); err != nil {
		return "", fmt.Errorf("relay: storing contact: %w", err)
	}
	return id, nil
}

// inboundText is the text of an inbound message as Intercom gets it: the
// conversation-creating endpoint takes plain text, replies take HTML.
func inboundText(in inboundJob, htmlBody bool) string {
	body := in.Body
	if strings.TrimSpace(body) == "" {
		if len(in.Media) > 0 {
			body = fmt.Sprintf("[%d attachment(s) by MMS]", len(in.Media))
		} else {
			body = "[empty message]"
		}
	}
	if !htmlBody {
		return body
	}
	lines := strings.Split(html.EscapeString(body), "\n")
	return "<p>" + strings.Join(lines, "<br>") + "</p>"
}

func mediaURLs(ms []media) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.URL)
	}
	return out
}

// pointThread points th at the conversation d says a customer's text,
// received at, is on: open, with Intercom's time of its last change when
// known, d's contact, and at as the customer's last text if it is later.
// Live texts (recordDelivery) and imported ones (backfill.go) share it.
func pointThread(th *store.Thread, d delivery, at time.Time) {
	th.State = store.StateOpen
	if th.ConversationID != d.convID {
		th.StateAt = d.stateAt
	} else if d.stateAt.After(th.StateAt) {
		th.StateAt = d.stateAt
	}
	th.ConversationID = d.convID
	if d.contactID != "" {
		th.ContactID = d.contactID
	}
	if at.After(th.LastInbound) {
		th.LastInbound = at
	}
}
