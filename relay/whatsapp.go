package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// This file is WhatsApp's 24-hour customer-service window. A free-form
// message reaches a WhatsApp user only within 24 hours of their last
// message; outside it Twilio fails it with error 63016, and only an
// approved template (a Twilio Content Template) goes through. A reply that
// fails so gets a note in plain words (notes.go, twiliosms.Describe); with
// Config.WhatsAppTemplate the relay also sends the template, at most once
// a day per thread, to invite the customer to write back, which re-opens
// the window. Relay.Send refuses a free-form WhatsApp text outside the
// window (ErrOutsideWindow) and sends a template given in Text.ContentSID.

// WhatsAppWindow is how long after a WhatsApp user's last message free-form
// messages reach them.
const WhatsAppWindow = 24 * time.Hour

// WhatsAppTemplate is an approved WhatsApp template, created in Twilio's
// Content Template Builder and approved by WhatsApp, that the relay sends to
// re-open the customer-service window.
type WhatsAppTemplate struct {
	// ContentSID is the template's SID, "HX" and 32 hex digits. Required.
	ContentSID string
	// Variables fill the template's placeholders ({"1": "our support
	// team"}); unset ones take the template's defaults.
	Variables map[string]string
}

// ErrOutsideWindow: a free-form WhatsApp text to a customer who has not
// written in the last 24 hours; only a template (Text.ContentSID) reaches
// them.
var ErrOutsideWindow = errors.New("relay: outside WhatsApp's 24-hour window")

// inWhatsAppWindow reports whether the customer of key wrote within the
// window, as far as the relay has seen.
func (r *Relay) inWhatsAppWindow(ctx context.Context, key store.ThreadKey) (bool, error) {
	th, err := r.st.Thread(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("relay: reading thread: %w", err)
	}
	return !th.LastInbound.IsZero() && time.Since(th.LastInbound) < WhatsAppWindow, nil
}

// reopenJob sends the WhatsApp template to re-open a thread's window.
type reopenJob struct {
	Customer       string    `json:"customer"`
	Sender         string    `json:"sender"`
	ConversationID string    `json:"conversation_id"`
	Day            time.Time `json:"day"`
}

// reopenWindow follows a reply Twilio failed with 63016 on WhatsApp: with
// Config.WhatsAppTemplate it queues the template for the customer, at most
// once a day per thread.
func (r *Relay) reopenWindow(ctx context.Context, key store.ThreadKey, convID string, code int) error {
	if code != twiliosms.CodeOutsideWindow || r.cfg.WhatsAppTemplate == nil || !twiliosms.IsWhatsApp(key.Customer) {
		return nil
	}
	now := time.Now().UTC()
	payload, err := json.Marshal(reopenJob{Customer: key.Customer, Sender: key.Sender, ConversationID: convID, Day: now})
	if err != nil {
		return fmt.Errorf("relay: encoding job: %w", err)
	}
	_, err = r.q.Enqueue(ctx, store.NewJob{
		Kind: kindReopen, Key: orderKey(key.Customer), Payload: payload,
		DedupeKey: reopenPartID(key, now), DedupeTTL: 48 * time.Hour,
	})
	if err != nil && !errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("relay: queueing the WhatsApp template: %w", err)
	}
	return nil
}

// handleReopen sends the WhatsApp template once and tells the agents on the
// conversation.
func (r *Relay) handleReopen(ctx context.Context, j reopenJob, _ store.Job) error {
	tpl := r.cfg.WhatsAppTemplate
	if tpl == nil {
		return nil // the template was removed from the Config meanwhile
	}
	key := store.ThreadKey{Customer: j.Customer, Sender: j.Sender}
	convID, now := j.ConversationID, j.Day
	done, err := r.st.Marked(ctx, string(markReopenSent(key, now)))
	if err != nil || done {
		return err
	}
	msg := twiliosms.Message{To: key.Customer, From: key.Sender, ContentSID: tpl.ContentSID,
		ContentVariables: tpl.Variables, StatusCallback: r.cfg.StatusCallbackURL}
	sent, _, err := once(ctx, r, sideEffect[*twiliosms.Sent]{
		what:      "sending the WhatsApp template",
		unsure:    markUnsureReopen(key, now),
		do:        func(ctx context.Context) (*twiliosms.Sent, error) { return r.tw.Send(ctx, msg) },
		ambiguous: twiliosms.MaybeSent,
	})
	if err != nil && !twiliosms.IsPermanent(err) {
		return fmt.Errorf("relay: sending the WhatsApp template: %w", err)
	}
	note := noteReopened(tpl.ContentSID, err)
	if err == nil {
		rctx, cancel := detached(ctx)
		defer cancel()
		if err := r.st.PutMessage(rctx, store.Message{SID: sent.SID, ConversationID: convID, PartID: reopenPartID(key, now), Thread: key, Status: sent.Status}); err != nil {
			return fmt.Errorf("relay: recording the WhatsApp template: %w", err)
		}
	}
	if _, err := r.ic.AddNote(ctx, convID, r.cfg.NoteAuthor, note); err != nil {
		return fmt.Errorf("relay: noting the WhatsApp template: %w", err)
	}
	mctx, cancel := detached(ctx)
	defer cancel()
	if err := r.st.Mark(mctx, string(markReopenSent(key, now))); err != nil {
		return fmt.Errorf("relay: recording the WhatsApp template: %w", err)
	}
	return nil
}
