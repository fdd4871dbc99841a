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
}

// maxSMSBody is Twilio's limit on a message body, in characters.
const maxSMSBody = 1600

// maxMedia is Twilio's limit on media URLs in one message.
const maxMedia = 10

// unknownConversationAttempts is how often a reply on a conversation the
// relay has no record of is tried: the record may be on its way.
const unknownConversationAttempts = 5

// errNotYetOurs defers a reply on a conversation the relay has no record of
// yet. It is not a failure: it counts against no attempt limit, raises no
// alarm, and after a few looks the reply is dropped as not the relay's.
var errNotYetOurs = errors.New("relay: conversation not (yet) one the relay carries")

func (r *Relay) handleIntercom(ctx context.Context, j intercomJob, attempt int) error {
	keyOfConv, err := r.st.ThreadByConversation(ctx, j.ConversationID)
	if errors.Is(err, store.ErrNotFound) {
		if attempt < unknownConversationAttempts && len(j.Parts) > 0 {
			return errNotYetOurs
		}
		r.log.Info("relay: reply on a conversation the relay does not carry; not sent", "conversation", j.ConversationID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("relay: reading conversation mapping: %w", err)
	}
	for _, p := range j.Parts {
		if err := r.relayPart(ctx, keyOfConv, j.ConversationID, p, attempt); err != nil {
			return err
		}
	}
	switch j.Topic {
	case intercom.TopicAdminClosed, intercom.TopicAdminOpened:
		return r.setState(ctx, keyOfConv, j.ConversationID, j.Topic == intercom.TopicAdminOpened)
	}
	return nil
}

// setState records that a conversation was closed or re-opened, if it is
// still its thread's current one.
func (r *Relay) setState(ctx context.Context, key store.ThreadKey, convID string, open bool) error {
	th, err := r.st.Thread(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("relay: reading thread: %w", err)
	}
	if th.ConversationID != convID {
		return nil // an older conversation of the thread
	}
	th.State = store.StateClosed
	if open {
		th.State = store.StateOpen
	}
	if err := r.st.PutThread(ctx, th); err != nil {
		return fmt.Errorf("relay: storing thread state: %w", err)
	}
	return nil
}

// relayPart sends one agent comment to the customer, once.
func (r *Relay) relayPart(ctx context.Context, key store.ThreadKey, convID string, p part, attempt int) error {
	if !relayable(p.Type, p.AuthorType, p.Body, len(p.Attachments) > 0) || p.ID == "" {
		return nil
	}
	log := r.log.With("conversation", convID, "part", p.ID, "to", maskAddr(key.Customer))
	done, err := r.st.Marked(ctx, "intercom:"+p.ID)
	if err != nil {
		return fmt.Errorf("relay: reading part record: %w", err)
	}
	if done {
		log.Debug("relay: part already relayed")
		return nil
	}
	opted, err := r.st.OptedOut(ctx, key)
	if err != nil {
		return fmt.Errorf("relay: reading opt-out: %w", err)
	}
	if opted {
		log.Info("relay: customer opted out; reply not sent")
		note := fmt.Sprintf("<p>This reply was not sent by SMS: the customer (%s) has opted out of texts from %s. They can opt back in by texting START.</p>",
			html.EscapeString(key.Customer), html.EscapeString(key.Sender))
		if _, err := r.ic.AddNote(ctx, convID, r.cfg.NoteAuthor, note); err != nil {
			return fmt.Errorf("relay: adding opt-out note: %w", err)
		}
		r.m.withheld(ctx, "opted_out")
		return r.markPart(ctx, p.ID)
	}

	text := SMSText(p.Body)
	var mediaURLs []string
	for _, a := range p.Attachments {
		if a.URL == "" {
			continue
		}
		if twiliosms.SupportsMMS(key.Customer) && len(mediaURLs) < maxMedia {
			mediaURLs = append(mediaURLs, a.URL)
			continue
		}
		link := a.URL
		if a.Name != "" {
			link = a.Name + ": " + a.URL
		}
		text = strings.TrimSpace(text + "\n" + link)
	}
	if text == "" && len(mediaURLs) == 0 {
		log.Info("relay: reply has nothing to send")
		return r.markPart(ctx, p.ID)
	}
	chunks := splitText(text, maxSMSBody)
	if len(chunks) == 0 {
		chunks = []string{""}
	}
	for i, chunk := range chunks {
		marker := fmt.Sprintf("intercom:%s:%d", p.ID, i)
		if len(chunks) > 1 {
			if sent, err := r.st.Marked(ctx, marker); err != nil {
				return fmt.Errorf("relay: reading part record: %w", err)
			} else if sent {
				continue
			}
		}
		msg := twiliosms.Message{To: key.Customer, Body: chunk, StatusCallback: r.cfg.StatusCallbackURL}
		if i == 0 {
			msg.MediaURLs = mediaURLs
		}
		if r.cfg.MessagingServiceSID != "" && !twiliosms.IsWhatsApp(key.Sender) {
			msg.MessagingServiceSID = r.cfg.MessagingServiceSID
		} else {
			msg.From = key.Sender
		}
		unsure := fmt.Sprintf("unsure-send:%s:%d", p.ID, i) // an earlier attempt may have sent it
		sent, err := r.sentBefore(ctx, msg, p.ID, p.CreatedAt, attempt, unsure)
		if err != nil {
			// Not knowing is no reason to give up on the reply: try again.
			return err
		}
		fresh := sent == nil
		if fresh {
			sent, err = r.tw.Send(ctx, msg)
			if err != nil && mayHaveSent(err) {
				if merr := r.st.Mark(ctx, unsure); merr != nil {
					log.Warn("relay: recording an unsure send", "err", merr)
				}
			}
		}
		if err != nil {
			if !twiliosms.IsPermanent(err) {
				return fmt.Errorf("relay: sending reply: %w", err)
			}
			return r.sendFailed(ctx, key, convID, p.ID, err)
		}
		log.Info("relay: reply sent", "sid", sent.SID)
		if err := r.st.PutMessage(ctx, store.Message{
			SID: sent.SID, ConversationID: convID, PartID: p.ID, Thread: key, Status: sent.Status,
		}); err != nil {
			return fmt.Errorf("relay: recording sent message: %w", err)
		}
		if fresh {
			r.m.smsSent.Add(ctx, 1)
		}
		if len(chunks) > 1 {
			if err := r.st.Mark(ctx, marker); err != nil {
				return fmt.Errorf("relay: recording part progress: %w", err)
			}
		}
	}
	return r.markPart(ctx, p.ID)
}

// SentLister is an optional capability of an [SMSSender]: listing the latest
// messages to an address. *twiliosms.Client has it. With it, a retried job
// first looks whether an earlier attempt's text was created after all (its
// answer lost to a timeout, say) before sending it again.
type SentLister interface {
	Recent(ctx context.Context, to string, since time.Time) ([]twiliosms.Record, error)
}

// mayHaveSent reports whether a failed Send may nevertheless have created
// the message: its answer was lost, or is a server error. Twilio's refusals
// (4xx with a code) and 429s mean it did not.
func mayHaveSent(err error) bool {
	if twiliosms.IsPermanent(err) {
		return false
	}
	var he *twiliosms.HTTPError
	if code, ok := twiliosms.ErrorCode(err); ok && code == 20429 || errors.As(err, &he) && he.StatusCode == 429 {
		return false
	}
	return true // a timeout, a lost connection, a 5xx, a cancelled call in flight
}

// sentBefore looks, on a retry after a send whose outcome was unknown, for
// msg among the texts Twilio created since the part was written, and returns
// it as sent if it is there. When Twilio's list cannot be read for good
// (say, the credentials may not list messages), it says so in the log and
// lets the text be sent again: a duplicate is better than a loss.
func (r *Relay) sentBefore(ctx context.Context, msg twiliosms.Message, partID string, partCreated time.Time, attempt int, unsure string) (*twiliosms.Sent, error) {
	lister, ok := r.tw.(SentLister)
	if attempt <= 1 || !ok {
		return nil, nil
	}
	if maybe, err := r.st.Marked(ctx, unsure); err != nil {
		return nil, fmt.Errorf("relay: reading send record: %w", err)
	} else if !maybe {
		return nil, nil
	}
	since := partCreated.Add(-time.Minute)
	if partCreated.IsZero() {
		since = time.Now().Add(-24 * time.Hour)
	}
	recent, err := lister.Recent(ctx, msg.To, since)
	if err != nil && twiliosms.IsPermanent(err) {
		r.log.Warn("relay: cannot read Twilio's message list; sending again, perhaps twice", "err", err)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("relay: looking for an earlier attempt's text: %w", err)
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
			return nil, fmt.Errorf("relay: reading message record: %w", err)
		}
		r.log.Info("relay: an earlier attempt's text was sent after all", "sid", rec.SID)
		return &twiliosms.Sent{SID: rec.SID, Status: rec.Status}, nil
	}
	return nil, nil
}

func (r *Relay) markPart(ctx context.Context, partID string) error {
	if err := r.st.Mark(ctx, "intercom:"+partID); err != nil {
		return fmt.Errorf("relay: recording relayed part: %w", err)
	}
	return nil
}

// optedOutCode is Twilio's error for a recipient who texted STOP.
const optedOutCode = 21610

// sendFailed makes a permanent send failure visible to the agents.
func (r *Relay) sendFailed(ctx context.Context, key store.ThreadKey, convID, partID string, sendErr error) error {
	code, _ := twiliosms.ErrorCode(sendErr)
	r.log.Warn("relay: reply could not be sent", "conversation", convID, "code", code, "err", sendErr)
	if code == optedOutCode {
		if err := r.st.SetOptedOut(ctx, key, true); err != nil {
			return fmt.Errorf("relay: recording opt-out: %w", err)
		}
	}
	if _, err := r.ic.AddNote(ctx, convID, r.cfg.NoteAuthor, failureNote("This reply was not sent by SMS", code, "")); err != nil {
		return fmt.Errorf("relay: adding failure note: %w", err)
	}
	r.m.withheld(ctx, "refused")
	return r.markPart(ctx, partID)
}

// failureNote is the internal note for a text that did not go out.
func failureNote(what string, code int, twilioMessage string) string {
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
