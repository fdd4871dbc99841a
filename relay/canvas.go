package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// This file is the Inbox app: a Canvas Kit app in the conversation details
// panel that lets a teammate text the customer of any conversation, a web
// chat included. Its handlers verify the request (X-Body-Signature),
// answer with a canvas at once, and queue the send; the send makes the
// conversation the customer's SMS thread, so their answer threads into it.

// canvasJob is a text a teammate sent from the Inbox app.
type canvasJob struct {
	ConversationID string `json:"conversation_id"`
	ContactID      string `json:"contact_id"`
	AdminID        string `json:"admin_id"`
	To             string `json:"to"`
	From           string `json:"from"`
	Body           string `json:"body"`
}

// Component ids of the app's canvases.
const (
	canvasMessage = "message"
	canvasCount   = "count"
	canvasSend    = "send"
	canvasAgain   = "again"
)

// CanvasInitializeHandler serves Canvas Kit's initialize request of the
// Inbox app: it shows the customer's number and opt-out state, a message
// box and buttons to count segments and send. Configure the app's
// initialize URL (Developer Hub, Canvas Kit, "Conversation details") to
// where this is mounted. Requests are verified with Config.WebhookSecrets
// (the app's client secret): 401 without X-Body-Signature, 403 when it does
// not match.
func (r *Relay) CanvasInitializeHandler() http.Handler {
	return r.canvasHandler("canvas.initialize", func(ctx context.Context, req *intercom.CanvasRequest) intercom.Canvas {
		return r.composeCanvas(ctx, req, "", "")
	})
}

// CanvasSubmitHandler serves Canvas Kit's submit request of the Inbox app:
// "Count segments" shows what the message costs, "Send SMS" queues it and
// answers at once. Texts go out from Config.DefaultFrom, or through the
// Messaging Service when one is set, and the cost guard applies.
func (r *Relay) CanvasSubmitHandler() http.Handler {
	return r.canvasHandler("canvas.submit", r.submitCanvas)
}

func (r *Relay) canvasHandler(name string, answer func(context.Context, *intercom.CanvasRequest) intercom.Canvas) http.Handler {
	return r.instrumented(name, func(w http.ResponseWriter, req *http.Request) string {
		body, ok := r.readBody(w, req, "application/json")
		if !ok {
			return resultRejected
		}
		if err := intercom.VerifyCanvasSignature(body, req.Header.Get(intercom.CanvasSignatureHeader), r.cfg.WebhookSecrets...); err != nil {
			r.rejectSignature(w, req, name, "", err, errors.Is(err, intercom.ErrMissingSignature))
			return resultRejected
		}
		creq, err := intercom.ParseCanvasRequest(body)
		if err != nil || creq.Conversation.ID == "" {
			http.Error(w, "not a Canvas Kit request from a conversation", http.StatusBadRequest)
			return resultRejected
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(intercom.CanvasResponse{Canvas: answer(req.Context(), creq)})
		return resultAccepted
	})
}

// canvasSender is the sender and thread key sender the app texts from, or
// "" when the relay has none.
func (r *Relay) canvasSender() string {
	if r.cfg.MessagingServiceSID != "" {
		return r.cfg.MessagingServiceSID
	}
	return r.cfg.DefaultFrom
}

// canvasPhone is the customer's phone: from the request, or their contact.
func (r *Relay) canvasPhone(ctx context.Context, req *intercom.CanvasRequest) (string, error) {
	phone := strings.TrimSpace(req.Contact.Phone)
	if phone == "" && req.Contact.ID != "" && r.ic.reader != nil {
		c, err := r.ic.Contact(ctx, req.Contact.ID)
		if err != nil && !errors.Is(err, intercom.ErrNotFound) {
			return "", err
		}
		if c != nil {
			phone = strings.TrimSpace(c.Phone)
		}
	}
	if phone == "" {
		return "", nil
	}
	n, err := twiliosms.NormalizeAddress(phone, r.cfg.DefaultRegion)
	if err != nil {
		return "", nil // not a number Twilio can text: as good as none
	}
	return n, nil
}

// composeCanvas is the app's main canvas, with message in the box and note
// (a segment count, a problem) under it.
func (r *Relay) composeCanvas(ctx context.Context, req *intercom.CanvasRequest, message, note string) intercom.Canvas {
	title := intercom.TextComponent("title", "Text this customer", "header")
	from := r.canvasSender()
	if from == "" {
		return canvasOf(title, intercom.TextComponent("problem", "This relay has no number to text from: set SMSRELAY_DEFAULT_FROM (Config.DefaultFrom) or a Messaging Service.", "error"))
	}
	phone, err := r.canvasPhone(ctx, req)
	if err != nil {
		r.log.Warn("relay: Inbox app: reading the contact", "err", err)
		return canvasOf(title, intercom.TextComponent("problem", "Could not read this contact from Intercom just now. Try again in a moment.", "error"),
			intercom.SubmitButton(canvasAgain, "Try again", "secondary"))
	}
	if phone == "" {
		return canvasOf(title, intercom.TextComponent("problem", "This contact has no phone number. Add one to their profile to text them.", "muted"))
	}
	opted, err := r.st.OptedOut(ctx, store.ThreadKey{Customer: phone, Sender: from})
	if err != nil {
		r.log.Warn("relay: Inbox app: reading opt-out", "err", err)
		return canvasOf(title, intercom.TextComponent("problem", "Could not check whether this customer opted out. Try again in a moment.", "error"),
			intercom.SubmitButton(canvasAgain, "Try again", "secondary"))
	}
	to := intercom.TextComponent("to", "To "+phone+" from "+senderName(from), "paragraph")
	if opted {
		return canvasOf(title, to, intercom.TextComponent("problem", "This customer opted out of texts from this number. They can opt back in by texting START.", "error"))
	}
	box := intercom.TextAreaComponent(canvasMessage, "Message", "Type the text to send", message)
	parts := []intercom.Component{title, to, intercom.TextComponent("optout", "Opted in to texts", "muted"), box}
	if note != "" {
		parts = append(parts, intercom.TextComponent("cost", note, "muted"))
	}
	parts = append(parts, intercom.SubmitButton(canvasCount, "Count segments", "secondary"), intercom.SubmitButton(canvasSend, "Send SMS", "primary"))
	return canvasOf(parts...)
}

// senderName is how the app shows a sender.
func senderName(from string) string {
	if isServiceSID(from) {
		return "the Messaging Service"
	}
	return from
}

// isServiceSID tells a Messaging Service SID from a number or sender ID
// (an alphanumeric sender ID may start with "MG" too).
func isServiceSID(s string) bool { return twiliosms.ValidMessagingServiceSID(s) == nil }

func canvasOf(cs ...intercom.Component) intercom.Canvas {
	return intercom.Canvas{Content: intercom.CanvasContent{Components: cs}}
}

// costLine says what message costs as the cost guard lets it go.
func (r *Relay) costLine(message, to string) (string, guardedText) {
	g := r.cfg.Cost.guard(message, to)
	if twiliosms.IsWhatsApp(to) {
		return "WhatsApp message", g
	}
	if g.held {
		return fmt.Sprintf("%d segments (%s): more than the %d this relay sends in one text. Shorten it.", g.cost.Segments, g.cost.Encoding, r.cfg.Cost.MaxSegments), g
	}
	segs := 0
	for _, c := range g.chunks {
		segs += twiliosms.CountSegments(c).Segments
	}
	line := fmt.Sprintf("%d segment(s), %s", segs, g.cost.Encoding)
	if len(g.chunks) > 1 {
		line += fmt.Sprintf(", as %d texts", len(g.chunks))
	}
	return line, g
}

// submitCanvas answers a click in the app.
func (r *Relay) submitCanvas(ctx context.Context, req *intercom.CanvasRequest) intercom.Canvas {
	message := strings.TrimSpace(req.InputValues[canvasMessage])
	switch req.ComponentID {
	case canvasCount, canvasSend:
	default:
		return r.composeCanvas(ctx, req, "", "")
	}
	phone, err := r.canvasPhone(ctx, req)
	from := r.canvasSender()
	if err != nil || phone == "" || from == "" {
		return r.composeCanvas(ctx, req, message, "")
	}
	if message == "" {
		c := r.composeCanvas(ctx, req, "", "")
		for i := range c.Content.Components {
			if c.Content.Components[i].ID == canvasMessage {
				c.Content.Components[i].Error = true
			}
		}
		return c
	}
	line, g := r.costLine(message, phone)
	if req.ComponentID == canvasCount || g.held {
		return r.composeCanvas(ctx, req, message, line)
	}
	opted, err := r.st.OptedOut(ctx, store.ThreadKey{Customer: phone, Sender: from})
	if err != nil || opted {
		return r.composeCanvas(ctx, req, message, "")
	}
	j := canvasJob{ConversationID: req.Conversation.ID, ContactID: req.Contact.ID, AdminID: req.Admin.ID, To: phone, From: from, Body: message}
	payload, err := json.Marshal(j)
	if err == nil {
		sum := sha256.Sum256([]byte(j.ConversationID + "\x00" + j.AdminID + "\x00" + message))
		_, err = r.q.Enqueue(ctx, store.NewJob{
			Kind: kindCanvasSend, Key: orderKey(phone), Payload: payload,
			// A double click within the minute sends once.
			DedupeKey: dedupeCanvas(hex.EncodeToString(sum[:16]), time.Now()), DedupeTTL: 2 * time.Minute,
		})
	}
	if err != nil && !errors.Is(err, store.ErrDuplicate) {
		r.log.Error("relay: Inbox app: queueing a text", "err", err)
		return r.composeCanvas(ctx, req, message, "Could not queue the text just now; nothing was sent. Try again.")
	}
	return canvasOf(
		intercom.TextComponent("title", "Sending by SMS", "header"),
		intercom.TextComponent("to", "To "+phone+" from "+senderName(from)+" ("+line+"):", "paragraph"),
		intercom.TextComponent("sent", message, "paragraph"),
		intercom.TextComponent("thread", "Their answer will appear in this conversation. A note here confirms the send.", "muted"),
		intercom.SubmitButton(canvasAgain, "Text again", "secondary"),
	)
}

// handleCanvasSend sends a text a teammate wrote in the Inbox app and makes
// the conversation the customer's SMS thread.
func (r *Relay) handleCanvasSend(ctx context.Context, j canvasJob, job store.Job) error {
	key := store.ThreadKey{Customer: j.To, Sender: j.From}
	if err := key.Validate(); err != nil {
		return permanent(fmt.Errorf("relay: Inbox app text: %w", err))
	}
	author := j.AdminID
	if author == "" {
		author = r.cfg.NoteAuthor
	}
	opted, err := r.st.OptedOut(ctx, key)
	if err != nil {
		return fmt.Errorf("relay: reading opt-out: %w", err)
	}
	if opted {
		if _, err := r.ic.AddNote(ctx, j.ConversationID, r.cfg.NoteAuthor, noteOptedOut(key.Customer, senderName(key.Sender))); err != nil {
			return fmt.Errorf("relay: adding opt-out note: %w", err)
		}
		return nil
	}
	if err := r.adoptConversation(ctx, key, j); err != nil {
		return err
	}
	g := r.cfg.Cost.guard(j.Body, j.To)
	if g.held {
		return permanent(fmt.Errorf("relay: Inbox app text over the segment cap")) // the canvas refused it already
	}
	for i, chunk := range g.chunks {
		if done, err := r.st.Marked(ctx, string(markCanvasSent(job.ID, i))); err != nil {
			return fmt.Errorf("relay: reading the Inbox app record: %w", err)
		} else if done {
			continue
		}
		msg := twiliosms.Message{To: j.To, Body: chunk, StatusCallback: r.cfg.StatusCallbackURL}
		if isServiceSID(j.From) {
			msg.MessagingServiceSID = j.From
		} else {
			msg.From = j.From
		}
		partID := canvasPartID(job.ID)
		e := sideEffect[*twiliosms.Sent]{
			what:      "sending a text from the Inbox app",
			unsure:    markUnsureCanvas(job.ID, i),
			do:        func(ctx context.Context) (*twiliosms.Sent, error) { return r.tw.Send(ctx, msg) },
			ambiguous: twiliosms.MaybeSent,
		}
		if r.tw.canList() {
			e.look = func(ctx context.Context) (*twiliosms.Sent, bool, error) {
				return r.sentBefore(ctx, msg, partID, job.CreatedAt)
			}
		}
		sent, _, err := once(ctx, r, e)
		if err != nil {
			if !twiliosms.IsPermanent(err) {
				return fmt.Errorf("relay: sending a text from the Inbox app: %w", err)
			}
			code, _ := twiliosms.ErrorCode(err)
			if code == twiliosms.CodeOptedOut {
				if err := r.st.SetOptedOut(ctx, key, true); err != nil {
					return fmt.Errorf("relay: recording opt-out: %w", err)
				}
				if err := r.enqueueOptOutSync(ctx, key, canvasPartID(job.ID)); err != nil {
					return err
				}
			}
			if _, err := r.ic.AddNote(ctx, j.ConversationID, r.cfg.NoteAuthor, noteFailure(failedCanvasNotSent, code, "")); err != nil {
				return fmt.Errorf("relay: adding failure note: %w", err)
			}
			return r.reopenWindow(ctx, key, j.ConversationID, code)
		}
		rctx, cancel := detached(ctx)
		err = r.st.PutMessage(rctx, store.Message{SID: sent.SID, ConversationID: j.ConversationID, PartID: partID, Thread: key, Status: sent.Status})
		if err == nil {
			err = r.st.Mark(rctx, string(markCanvasSent(job.ID, i)))
		}
		cancel()
		if err != nil {
			return fmt.Errorf("relay: recording a text from the Inbox app: %w", err)
		}
	}
	// The time of the last text, on the contact (contactsync.go).
	if err := r.enqueueLastSent(ctx, key, j.ContactID, time.Now()); err != nil {
		return err
	}
	if done, err := r.st.Marked(ctx, string(markCanvasNoted(job.ID))); err != nil || done {
		return err
	}
	if _, err := r.ic.AddNote(ctx, j.ConversationID, author, noteCanvasSent(j.Body, key.Customer)); err != nil {
		return fmt.Errorf("relay: noting a text from the Inbox app: %w", err)
	}
	mctx, cancel := detached(ctx)
	defer cancel()
	if err := r.st.Mark(mctx, string(markCanvasNoted(job.ID))); err != nil {
		return fmt.Errorf("relay: recording the note of a text from the Inbox app: %w", err)
	}
	return nil
}

// adoptConversation makes j's conversation the SMS thread of key, so that
// the customer's answer threads into it and agents' replies on it go out
// by SMS. The customer's last text is forgotten with the old conversation,
// so that Config.IdleTimeout does not start a new one at their answer.
func (r *Relay) adoptConversation(ctx context.Context, key store.ThreadKey, j canvasJob) error {
	th, err := r.st.Thread(ctx, key)
	switch {
	case err == nil && th.ConversationID == j.ConversationID && th.State == store.StateOpen:
		return nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("relay: reading thread: %w", err)
	}
	if th.ConversationID != j.ConversationID {
		th.LastInbound = time.Time{}
	}
	th.Key, th.ConversationID, th.State, th.StateAt = key, j.ConversationID, store.StateOpen, time.Now()
	if j.ContactID != "" {
		th.ContactID = j.ContactID
		// The customer's answer finds this contact, not another with the
		// same phone.
		if err := r.st.SetContact(ctx, bareNumber(key.Customer), j.ContactID); err != nil {
			return fmt.Errorf("relay: storing contact: %w", err)
		}
	}
	if err := r.st.PutThread(ctx, th); err != nil {
		return fmt.Errorf("relay: making the conversation the customer's SMS thread: %w", err)
	}
	return nil
}
