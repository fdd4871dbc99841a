package relay

import (
	"context"
	"errors"
	"fmt"
	"html"
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
}

// routeJob applies a Route to a conversation the relay started.
type routeJob struct {
	ConversationID string `json:"conversation_id"`
	Sender         string `json:"sender"`
}

// Statuses of a customer's text in the message records: it has reached
// Intercom, on Message.ConversationID, as a reply on it or as the message
// that started it (which then still needs its route).
const (
	receivedStatus      = "received"
	startedThreadStatus = "received:started-conversation"
)

// handleInbound puts a customer's text on the right Intercom conversation.
//
// Progress is recorded so that a retried job repeats no side effect that
// already happened: once the text is on a conversation, the message record
// (SID → conversation) says so, and a retry only finishes the bookkeeping.
func (r *Relay) handleInbound(ctx context.Context, in inboundJob, attempt int) error {
	key := store.ThreadKey{Customer: in.From, Sender: in.To}
	if err := key.Validate(); err != nil {
		return permanent(fmt.Errorf("relay: inbound message %s: %w", in.MessageSID, err))
	}
	log := r.log.With("message", in.MessageSID, "from", maskAddr(in.From), "to", in.To)

	optChange, err := r.applyOptChange(ctx, key, in)
	if err != nil {
		return err
	}

	// Already on a conversation? Then only the bookkeeping is left.
	if m, err := r.st.Message(ctx, in.MessageSID); err == nil && m.ConversationID != "" {
		log.Debug("relay: text already delivered; finishing bookkeeping", "conversation", m.ConversationID)
		return r.afterDelivery(ctx, key, in, m.ConversationID, "", m.Status == startedThreadStatus, optChange)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("relay: reading message record: %w", err)
	}

	contactID, err := r.contactFor(ctx, in.From)
	if err != nil {
		return err
	}

	th, err := r.st.Thread(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("relay: reading thread: %w", err)
	case th.ContactID != "" && th.ContactID != contactID:
		log.Info("relay: contact of thread changed; starting a new conversation")
	case r.cfg.IdleTimeout > 0 && !th.LastInbound.IsZero() && in.ReceivedAt.Sub(th.LastInbound) > r.cfg.IdleTimeout:
		log.Info("relay: thread idle past IdleTimeout; starting a new conversation", "conversation", th.ConversationID)
	case th.State == store.StateClosed && !r.cfg.Reopen:
		log.Info("relay: conversation closed; starting a new one", "conversation", th.ConversationID)
	default:
		convID, replied, err := r.replyOnThread(ctx, th, contactID, in, attempt)
		if err != nil {
			return err
		}
		if replied {
			return r.afterDelivery(ctx, key, in, convID, contactID, false, optChange)
		}
		log.Info("relay: conversation no longer exists; starting a new one", "conversation", th.ConversationID)
		if err := r.st.DeleteThread(ctx, key); err != nil {
			return fmt.Errorf("relay: forgetting thread: %w", err)
		}
	}

	// An earlier attempt may have started the conversation and lost the
	// answer: look for it before starting another.
	unsure := "unsure-start:" + in.MessageSID
	if attempt > 1 {
		convID, err := r.startedBefore(ctx, unsure, contactID, in)
		if err != nil {
			return err
		}
		if convID != "" {
			log.Info("relay: an earlier attempt started the conversation after all", "conversation", convID)
			if err := r.recordDelivery(ctx, key, in, convID, startedThreadStatus); err != nil {
				return err
			}
			return r.afterDelivery(ctx, key, in, convID, contactID, true, optChange)
		}
	}
	msg, err := r.ic.CreateConversation(ctx, intercom.ConversationCreate{
		FromType:       "contact",
		FromID:         contactID,
		Body:           inboundText(in, false),
		AttachmentURLs: mediaURLs(in.Media),
	})
	if intercom.IsAmbiguous(err) {
		if merr := r.st.Mark(ctx, unsure); merr != nil {
			log.Warn("relay: recording an unsure start", "err", merr)
		}
	}
	if err != nil {
		if errors.Is(err, intercom.ErrNotFound) {
			// The contact is gone (deleted or merged): forget it and retry.
			if derr := r.st.DeleteContact(ctx, bareNumber(in.From)); derr != nil {
				return fmt.Errorf("relay: forgetting contact: %w", derr)
			}
		}
		return fmt.Errorf("relay: creating conversation: %w", err)
	}
	if msg.ConversationID == "" {
		return fmt.Errorf("relay: Intercom created a message without a conversation id")
	}
	log.Info("relay: started conversation", "conversation", msg.ConversationID)
	if err := r.recordDelivery(ctx, key, in, msg.ConversationID, startedThreadStatus); err != nil {
		return err
	}
	return r.afterDelivery(ctx, key, in, msg.ConversationID, contactID, true, optChange)
}

// replyOnThread adds the text to th's conversation as the contact. It reports
// false, with no error, when Intercom no longer has the conversation.
//
// On a retry it first looks whether an earlier attempt's reply reached the
// conversation although its answer was lost, so as not to post it twice.
func (r *Relay) replyOnThread(ctx context.Context, th store.Thread, contactID string, in inboundJob, attempt int) (string, bool, error) {
	body := inboundText(in, true)
	unsure := "unsure:" + in.MessageSID // an earlier attempt may have posted it
	if attempt > 1 {
		maybe, err := r.st.Marked(ctx, unsure)
		if err != nil {
			return "", false, fmt.Errorf("relay: reading reply record: %w", err)
		}
		if maybe {
			posted, err := r.alreadyPosted(ctx, th.ConversationID, contactID, body, in.ReceivedAt)
			if err != nil && !errors.Is(err, intercom.ErrNotFound) {
				return "", false, fmt.Errorf("relay: checking for an earlier reply: %w", err)
			}
			if posted {
				if err := r.recordDelivery(ctx, th.Key, in, th.ConversationID, receivedStatus); err != nil {
					return "", false, err
				}
				return th.ConversationID, true, nil
			}
		}
	}
	conv, err := r.ic.ReplyAsContact(ctx, th.ConversationID, intercom.ContactReply{
		IntercomUserID: contactID,
		Body:           body,
		AttachmentURLs: mediaURLs(in.Media),
	})
	if intercom.IsAmbiguous(err) {
		if merr := r.st.Mark(ctx, unsure); merr != nil {
			r.log.Warn("relay: recording an unsure reply", "err", merr)
		}
	}
	if errors.Is(err, intercom.ErrNotFound) {
		// Either the conversation or the contact is gone; ask which.
		if _, cerr := r.ic.Conversation(ctx, th.ConversationID); errors.Is(cerr, intercom.ErrNotFound) {
			return "", false, nil
		} else if cerr != nil {
			return "", false, fmt.Errorf("relay: checking conversation: %w", cerr)
		}
		if derr := r.st.DeleteContact(ctx, bareNumber(th.Key.Customer)); derr != nil {
			return "", false, fmt.Errorf("relay: forgetting contact: %w", derr)
		}
		return "", false, fmt.Errorf("relay: replying as contact: contact is gone: %w", err)
	}
	if err != nil {
		return "", false, fmt.Errorf("relay: replying as contact: %w", err)
	}
	if err := r.recordDelivery(ctx, th.Key, in, th.ConversationID, receivedStatus); err != nil {
		return "", false, err
	}
	// Remember which part this text became, so that a later unsure retry of
	// another text with the same words does not take it for its own.
	for i := len(conv.Parts) - 1; i >= 0; i-- {
		if p := conv.Parts[i]; p.Author.ID == contactID && p.ID != "" {
			if err := r.st.Mark(ctx, "contact-part:"+p.ID); err != nil {
				r.log.Warn("relay: recording the customer's part", "err", err)
			}
			break
		}
	}
	return th.ConversationID, true, nil
}

// startedBefore looks, after an attempt to start a conversation whose
// outcome was unknown, for the conversation that attempt may have started:
// one of the contact's, created since the text arrived (less a minute for
// clocks), that opens with the text. It returns "" when there is none, when
// no attempt was unsure, or when the Intercom client cannot search.
//
// Intercom's search can lag behind a conversation created moments ago; the
// retry delay gives it time, and a miss means a second conversation, never a
// lost text.
func (r *Relay) startedBefore(ctx context.Context, unsure, contactID string, in inboundJob) (string, error) {
	maybe, err := r.st.Marked(ctx, unsure)
	if err != nil {
		return "", fmt.Errorf("relay: reading start record: %w", err)
	}
	finder, ok := r.cfg.Intercom.(ConversationFinder)
	if !maybe || !ok {
		return "", nil
	}
	convs, err := r.ic.search(ctx, finder, contactID, in.ReceivedAt.Add(-time.Minute))
	if err != nil {
		return "", fmt.Errorf("relay: looking for a conversation an earlier attempt started: %w", err)
	}
	want := SMSText(inboundText(in, false))
	for _, c := range convs {
		if c.Source.Author.ID == contactID && SMSText(c.Source.Body) == want {
			if _, err := r.st.ThreadByConversation(ctx, c.ID); errors.Is(err, store.ErrNotFound) {
				return c.ID, nil // not one another text already carries
			} else if err != nil {
				return "", fmt.Errorf("relay: reading conversation mapping: %w", err)
			}
		}
	}
	return "", nil
}

// alreadyPosted reports whether conversationID holds a part by contactID with
// body's text, created since the text arrived (less a minute for clocks),
// that no other text is known to have become.
func (r *Relay) alreadyPosted(ctx context.Context, conversationID, contactID, body string, since time.Time) (bool, error) {
	conv, err := r.ic.Conversation(ctx, conversationID)
	if err != nil {
		return false, err
	}
	want := SMSText(body)
	for _, p := range conv.Parts {
		if p.Author.ID != contactID || p.CreatedAt.Before(since.Add(-time.Minute)) || SMSText(p.Body) != want {
			continue
		}
		// A part another text became is not this one.
		if known, err := r.st.Marked(ctx, "contact-part:"+p.ID); err != nil {
			return false, err
		} else if !known {
			return true, nil
		}
	}
	return false, nil
}

// recordDelivery notes that the text is on conversationID, before anything
// else can fail, so that a retry does not post it twice.
func (r *Relay) recordDelivery(ctx context.Context, key store.ThreadKey, in inboundJob, conversationID, status string) error {
	err := r.st.PutMessage(ctx, store.Message{
		SID:            in.MessageSID,
		ConversationID: conversationID,
		Thread:         key,
		Status:         status,
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
func (r *Relay) afterDelivery(ctx context.Context, key store.ThreadKey, in inboundJob, convID, contactID string, started bool, optChange int) error {
	th, err := r.st.Thread(ctx, key)
	stale := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		th = store.Thread{Key: key}
	case err != nil:
		return fmt.Errorf("relay: reading thread: %w", err)
	case th.ConversationID == convID:
	default:
		// The thread points elsewhere. If convID is one of its older
		// conversations, this is a retry of an old text: leave the thread.
		known, kerr := r.st.ThreadByConversation(ctx, convID)
		switch {
		case kerr == nil && known == key:
			stale = true
		case kerr != nil && !errors.Is(kerr, store.ErrNotFound):
			return fmt.Errorf("relay: reading conversation mapping: %w", kerr)
		}
	}
	if !stale {
		th.ConversationID = convID
		th.State = store.StateOpen
		if contactID != "" {
			th.ContactID = contactID
		}
		if in.ReceivedAt.After(th.LastInbound) {
			th.LastInbound = in.ReceivedAt
		}
		if err := r.st.PutThread(ctx, th); err != nil {
			return fmt.Errorf("relay: storing thread: %w", err)
		}
	}
	if started {
		if err := r.enqueueRoute(ctx, convID, key); err != nil {
			return err
		}
	}
	if optChange != 0 {
		noted, err := r.st.Marked(ctx, "opt-note:"+in.MessageSID)
		if err != nil {
			return fmt.Errorf("relay: reading opt-out note record: %w", err)
		}
		if !noted {
			if err := r.noteOptChange(ctx, convID, in, optChange > 0); err != nil {
				return err
			}
			if err := r.st.Mark(ctx, "opt-note:"+in.MessageSID); err != nil {
				return fmt.Errorf("relay: recording opt-out note: %w", err)
			}
		}
	}
	return nil
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
	changed, err := r.st.Marked(ctx, "opt-change:"+in.MessageSID)
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
		if err := r.st.Mark(ctx, "opt-change:"+in.MessageSID); err != nil {
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
	payload := fmt.Appendf(nil, `{"conversation_id":%q,"sender":%q}`, convID, key.Sender)
	_, err := r.q.Enqueue(ctx, store.NewJob{
		Kind:      kindRoute,
		Key:       orderKey(key.Customer),
		Payload:   payload,
		DedupeKey: "relay:route:" + convID,
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
func (r *Relay) handleRoute(ctx context.Context, p routeJob) error {
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
// first, then Intercom's search, then a new lead. Jobs of one customer run one
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
	if len(found) > 0 {
		id = found[0].ID
	} else {
		c, err := r.ic.CreateContact(ctx, intercom.ContactCreate{Role: "lead", Phone: phone})
		if err != nil {
			return "", fmt.Errorf("relay: creating contact: %w", err)
		}
		id = c.ID
	}
	if err := r.st.SetContact(ctx, phone, id); err != nil {
		return "", fmt.Errorf("relay: storing contact: %w", err)
	}
	return id, nil
}

// noteOptChange tells the agents that the customer opted out or back in.
func (r *Relay) noteOptChange(ctx context.Context, convID string, in inboundJob, out bool) error {
	word := html.EscapeString(strings.TrimSpace(in.Body))
	if word == "" {
		word = html.EscapeString(in.OptOutType)
	}
	var body string
	if out {
		body = fmt.Sprintf("<p>The customer texted “%s” and has opted out of texts from %s. Replies on this conversation will not reach them by SMS until they text START.</p>",
			word, html.EscapeString(in.To))
	} else {
		body = fmt.Sprintf("<p>The customer texted “%s” and has opted back in to texts from %s.</p>", word, html.EscapeString(in.To))
	}
	if _, err := r.ic.AddNote(ctx, convID, r.cfg.NoteAuthor, body); err != nil {
		return fmt.Errorf("relay: adding opt-out note: %w", err)
	}
	return nil
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
