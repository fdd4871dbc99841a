package relay

import (
	"context"
	"errors"
	"fmt"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// This file is the rule of threading with a Messaging Service pool. The
// service picks which of its numbers sends each text (sticky sender, area
// code geomatch, a number added or removed), so a customer may answer a
// different number than they wrote to before. A text to a number of the
// pool of Config.MessagingServiceSID (Twilio says so in its webhook's
// MessagingServiceSid) threads by (customer, service) instead of
// (customer, number), so the customer stays on their conversation
// whichever number they text. Replies already go out through the service.
//
// Existing threads carry over: the first text after a relay is given the
// service finds no (customer, service) thread and takes the customer's
// (customer, number) thread of the number it came to, with its
// conversation and opt-out state, and the old thread is forgotten. Threads
// of the customer on other numbers of the pool stay where they are; a
// later text to one of them joins the service's thread. WhatsApp senders
// keep threading by number.

// threadKey is the thread a customer's text belongs to.
func (r *Relay) threadKey(in inboundJob) store.ThreadKey {
	if r.pooled(in) {
		return store.ThreadKey{Customer: in.From, Sender: r.cfg.MessagingServiceSID}
	}
	return store.ThreadKey{Customer: in.From, Sender: in.To}
}

// pooled reports whether in came to a number of the relay's Messaging
// Service pool.
func (r *Relay) pooled(in inboundJob) bool {
	return r.cfg.MessagingServiceSID != "" && in.MessagingServiceSID == r.cfg.MessagingServiceSID &&
		!twiliosms.IsWhatsApp(in.To)
}

// carryOver moves the customer's thread on the number in came to onto the
// service's thread key, when the service has no thread for them yet. Each
// step is safe to repeat.
func (r *Relay) carryOver(ctx context.Context, key store.ThreadKey, in inboundJob) error {
	if key.Sender == in.To {
		return nil
	}
	if _, err := r.st.Thread(ctx, key); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("relay: reading thread: %w", err)
	}
	old := store.ThreadKey{Customer: in.From, Sender: in.To}
	th, err := r.st.Thread(ctx, old)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("relay: reading thread: %w", err)
	}
	opted, err := r.st.OptedOut(ctx, old)
	if err != nil {
		return fmt.Errorf("relay: reading opt-out: %w", err)
	}
	if opted {
		if err := r.st.SetOptedOut(ctx, key, true); err != nil {
			return fmt.Errorf("relay: carrying opt-out over to the Messaging Service: %w", err)
		}
	}
	th.Key = key
	if err := r.st.PutThread(ctx, th); err != nil {
		return fmt.Errorf("relay: carrying thread over to the Messaging Service: %w", err)
	}
	if err := r.st.DeleteThread(ctx, old); err != nil {
		return fmt.Errorf("relay: forgetting the thread carried over: %w", err)
	}
	r.log.Info("relay: thread carried over to the Messaging Service", "conversation", th.ConversationID)
	return nil
}
