package relay

import (
	"context"
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

// This file pages agents by SMS. A conversation the relay carries pages
// its assigned admin (or an on-call number) when it is tagged with
// Paging.Tag, or when a customer's text waits Paging.After without an
// admin's reply. The page goes out from the number the customer texted;
// the agent's text back to that number, within Paging.AckWindow, becomes a
// note on the conversation authored by that admin, never a contact and
// never a text to the customer.
//
// A waiting spell runs from the customer's first message after an admin's
// reply (or an acknowledged page) to the next such reply: each spell pages
// once, whatever triggers it and however often.

// Defaults of [Paging].
const (
	// DefaultPageTag is the tag that pages, when Paging.Tag is empty.
	DefaultPageTag = "urgent"
	// DefaultAckWindow is how long after a page an agent's text back
	// acknowledges it, when Paging.AckWindow is zero.
	DefaultAckWindow = 30 * time.Minute
)

// tagFresh is how far a tag's applied_at may be from the notification's
// time for the notification to be about that tag: a conversation tagged
// long ago and tagged again with something else does not page again.
const tagFresh = 2 * time.Minute

// Paging pages agents by SMS about conversations that need them. Paging
// is on when AgentPhones, OnCall or OnCallPhone is set. Intercom's API
// does not expose admins' phone numbers: they come from here.
type Paging struct {
	// AgentPhones maps Intercom admin ids to their mobile numbers (E.164,
	// or national numbers of Config.DefaultRegion). The admin a
	// conversation is assigned to is paged at their number.
	AgentPhones map[string]string
	// OnCall returns the number to page about a conversation assigned to
	// nobody with a number in AgentPhones. "" pages no one; an error is
	// retried. It is called in a worker, on each attempt at a page. nil
	// uses OnCallPhone.
	OnCall func(ctx context.Context, conversationID string) (string, error)
	// OnCallPhone is paged when OnCall is nil and the conversation is
	// assigned to nobody with a number in AgentPhones.
	OnCallPhone string
	// Tag is the name of the tag that pages when a conversation gets it
	// (compared without regard to case). Default DefaultPageTag.
	Tag string
	// After, when positive, pages when a customer's text waits this long
	// without an admin's reply. Zero (the default) pages on the tag only.
	After time.Duration
	// AckWindow is how long after a page the agent's text back to the
	// number the page came from acknowledges it. Default
	// DefaultAckWindow.
	AckWindow time.Duration
	// WorkspaceID is the Intercom workspace (app) id, for the link to the
	// conversation in the inbox. Required when paging is on.
	WorkspaceID string
}

func (p Paging) enabled() bool {
	return len(p.AgentPhones) > 0 || p.OnCall != nil || p.OnCallPhone != ""
}

// withDefaults checks p, normalises its numbers and fills in defaults;
// add collects the problems.
func (p Paging) withDefaults(region string, add func(format string, a ...any)) Paging {
	if p.After < 0 {
		add("Paging.After must not be negative")
	}
	if p.AckWindow < 0 {
		add("Paging.AckWindow must not be negative")
	}
	if !p.enabled() {
		if p.After > 0 {
			add("Paging.After needs Paging.AgentPhones, Paging.OnCall or Paging.OnCallPhone")
		}
		return p
	}
	phone := func(what, s string) string {
		n, err := twiliosms.NormalizeAddress(s, region)
		switch {
		case err != nil:
			add("%s: %v", what, err)
		case twiliosms.IsWhatsApp(n):
			add("%s: pages go by SMS; %q is a WhatsApp address", what, s)
		case !strings.HasPrefix(n, "+"):
			add("%s: %q is not a phone number", what, s)
		}
		return n
	}
	phones := make(map[string]string, len(p.AgentPhones))
	for id, ph := range p.AgentPhones {
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			add("Paging.AgentPhones: %q is not an Intercom admin id (digits)", id)
			continue
		}
		phones[id] = phone("Paging.AgentPhones["+id+"]", ph)
	}
	p.AgentPhones = phones
	if p.OnCallPhone != "" {
		p.OnCallPhone = phone("Paging.OnCallPhone", p.OnCallPhone)
	}
	if p.Tag = strings.TrimSpace(p.Tag); p.Tag == "" {
		p.Tag = DefaultPageTag
	}
	if p.AckWindow == 0 {
		p.AckWindow = DefaultAckWindow
	}
	if p.WorkspaceID = strings.TrimSpace(p.WorkspaceID); p.WorkspaceID == "" {
		add("Paging.WorkspaceID is required when paging is on (it links pages to the inbox)")
	}
	return p
}

// inboxLink is the conversation's address in the Intercom inbox.
func (p Paging) inboxLink(convID string) string {
	return "https://app.intercom.com/a/inbox/" + p.WorkspaceID + "/inbox/conversation/" + convID
}

// pageTagJob marks j as a page when the notification is about the paging
// tag just applied to a conversation.
func (r *Relay) pageTagJob(n *intercom.Notification, j intercomJob) (intercomJob, bool) {
	if !r.cfg.Paging.enabled() || n.Conversation == nil {
		return j, false
	}
	for _, t := range n.Conversation.Tags {
		if !strings.EqualFold(t.Name, r.cfg.Paging.Tag) {
			continue
		}
		at := t.AppliedAt
		if !at.IsZero() && !n.CreatedAt.IsZero() && (n.CreatedAt.Sub(at) > tagFresh || at.Sub(n.CreatedAt) > tagFresh) {
			return j, false // tagged long ago: this notification is about another tag
		}
		if at.IsZero() {
			at = n.CreatedAt
		}
		j.PageTagAt = at
		return j, true
	}
	return j, false
}

// pageOnTag pages about a conversation just tagged with the paging tag.
func (r *Relay) pageOnTag(ctx context.Context, key store.ThreadKey, j intercomJob) error {
	c, err := r.ic.Conversation(ctx, j.ConversationID)
	if errors.Is(err, intercom.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("relay: reading conversation to page: %w", err)
	}
	sp, err := r.waitingSpell(ctx, c)
	if err != nil {
		return err
	}
	if sp.key == "" {
		if sp.acked {
			r.log.Debug("relay: tagged after a page was acknowledged, before the customer wrote again; no page", "conversation", c.ID)
			return nil
		}
		// Nobody waits since an admin's reply: the quiet spell pages once.
		sp.key = "quiet:" + strconv.FormatInt(sp.lastAnswer.UTC().Unix(), 10)
		sp.body = c.Source.Body
	}
	return r.page(ctx, key, c, sp, "Tagged "+r.cfg.Paging.Tag)
}

// pageWaitJob pages if a customer's text is still waiting at Due.
type pageWaitJob struct {
	ConversationID string    `json:"conversation_id"`
	Customer       string    `json:"customer"`
	Sender         string    `json:"sender"`
	MessageSID     string    `json:"message_sid"`
	ReceivedAt     time.Time `json:"received_at"`
	Due            time.Time `json:"due"`
	// Text is the text as posted (plain), and Started says it started the
	// conversation: they find the text's part, to look for answers after it.
	Text    string `json:"text"`
	Started bool   `json:"started,omitempty"`
}

// errPageNotDue defers a waiting job until its time.
var errPageNotDue = errors.New("relay: page not due yet")

// schedulePageWait enqueues the delayed job that pages when the customer's
// text in, now on d.convID, waits Paging.After without an admin's reply.
func (r *Relay) schedulePageWait(ctx context.Context, key store.ThreadKey, in inboundJob, d delivery) error {
	if !r.cfg.Paging.enabled() || r.cfg.Paging.After <= 0 {
		return nil
	}
	payload, err := json.Marshal(pageWaitJob{
		ConversationID: d.convID, Customer: key.Customer, Sender: key.Sender,
		MessageSID: in.MessageSID, ReceivedAt: in.ReceivedAt, Due: in.ReceivedAt.Add(r.cfg.Paging.After),
		Text: inboundText(in, false), Started: d.started,
	})
	if err != nil {
		return fmt.Errorf("relay: encoding page job: %w", err)
	}
	_, err = r.q.Enqueue(ctx, store.NewJob{
		Kind:      kindPageWait,
		Key:       pageKey(d.convID),
		Payload:   r.withTrace(ctx, payload),
		DedupeKey: dedupePageWait(in.MessageSID),
		DedupeTTL: r.cfg.DedupeTTL + r.cfg.Paging.After,
	})
	if err != nil && !errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("relay: enqueueing page job: %w", err)
	}
	return nil
}

// handlePageWait pages when the text is due and still waiting: no admin
// replied since it arrived, the conversation is open, and its spell was
// not paged yet.
func (r *Relay) handlePageWait(ctx context.Context, p pageWaitJob, _ store.Job) error {
	if d := time.Until(p.Due); d > 0 {
		return deferFor(errPageNotDue, d)
	}
	c, err := r.ic.Conversation(ctx, p.ConversationID)
	if errors.Is(err, intercom.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("relay: reading conversation to page: %w", err)
	}
	log := r.log.With("conversation", p.ConversationID, "message", p.MessageSID)
	if c.State != "" && c.State != "open" {
		log.Debug("relay: conversation no longer open; no page", "state", c.State)
		return nil
	}
	sp, err := r.waitingSpell(ctx, c)
	if err != nil {
		return err
	}
	answered, err := r.answeredSince(ctx, c, p, sp)
	if err != nil {
		return err
	}
	if sp.key == "" || answered {
		log.Debug("relay: an admin answered in time; no page")
		return nil
	}
	return r.page(ctx, store.ThreadKey{Customer: p.Customer, Sender: p.Sender}, c, sp,
		"Waiting "+shortDuration(p.Due.Sub(p.ReceivedAt)))
}

// answeredSince reports whether an admin answered (or a page was
// acknowledged) after p's text: after its part, found by its text, when
// it can be found, else after the second it arrived.
func (r *Relay) answeredSince(ctx context.Context, c *intercom.Conversation, p pageWaitJob, sp spell) (bool, error) {
	from := -1
	if !p.Started {
		from = len(c.Parts)
		want := SMSText(p.Text)
		for i, part := range c.Parts {
			if isContact(part.Author) && !part.CreatedAt.Before(p.ReceivedAt.Add(-time.Minute)) && SMSText(part.Body) == want {
				from = i
				break
			}
		}
		if from == len(c.Parts) {
			return !sp.lastAnswer.IsZero() && !sp.lastAnswer.Before(p.ReceivedAt.Truncate(time.Second)), nil
		}
	}
	for _, part := range c.Parts[from+1:] {
		if ok, _, err := r.isAnswer(ctx, part); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// isAnswer reports whether p ends a waiting spell: an admin's reply the
// customer reads, or an acknowledged page (then ack is true too).
func (r *Relay) isAnswer(ctx context.Context, p intercom.Part) (answer, ack bool, err error) {
	switch {
	case relayable(p.PartType, p.Author.Type, p.Body, len(p.Attachments) > 0):
		return true, false, nil
	case p.Author.Type == "admin" && p.PartType == "note" && p.ID != "":
		ack, err := r.st.Marked(ctx, string(markPageAckPart(p.ID)))
		if err != nil {
			return false, false, fmt.Errorf("relay: reading acknowledgement record: %w", err)
		}
		return ack, ack, nil
	}
	return false, false, nil
}

// shortDuration writes d to the second, without zero tails: "10m", "1h",
// "1m30s".
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// spell is a conversation's current waiting spell.
type spell struct {
	key        string    // the first customer part of the spell; "" when nobody waits
	body       string    // what the customer wrote first in it
	lastAnswer time.Time // the last admin reply or acknowledgement
	acked      bool      // the last answer is an acknowledged page
}

// waitingSpell finds c's current waiting spell: the customer's messages
// since the last admin reply or acknowledged page.
func (r *Relay) waitingSpell(ctx context.Context, c *intercom.Conversation) (spell, error) {
	var sp spell
	if isContact(c.Source.Author) {
		sp.key, sp.body = "source", c.Source.Body
	}
	for _, p := range c.Parts {
		if isContact(p.Author) {
			if sp.key == "" && p.ID != "" {
				sp.key, sp.body = p.ID, p.Body
			}
			continue
		}
		answer, ack, err := r.isAnswer(ctx, p)
		if err != nil {
			return spell{}, err
		}
		if answer {
			sp = spell{lastAnswer: p.CreatedAt, acked: ack}
		}
	}
	return sp, nil
}

func isContact(a intercom.Author) bool {
	switch a.Type {
	case "user", "lead", "contact":
		return true
	}
	return false
}

// pageTarget is who to page about c: the assigned admin at their number,
// or the on-call number ("" admin id).
func (r *Relay) pageTarget(ctx context.Context, c *intercom.Conversation) (adminID, phone string, err error) {
	pg := r.cfg.Paging
	if ph, ok := pg.AgentPhones[c.AdminAssigneeID]; ok && c.AdminAssigneeID != "" {
		return c.AdminAssigneeID, ph, nil
	}
	if pg.OnCall == nil {
		return "", pg.OnCallPhone, nil
	}
	ph, err := pg.OnCall(ctx, c.ID)
	if err != nil {
		return "", "", fmt.Errorf("relay: Paging.OnCall: %w", err)
	}
	if ph == "" {
		return "", "", nil
	}
	n, err := twiliosms.NormalizeAddress(ph, r.cfg.DefaultRegion)
	if err != nil || !strings.HasPrefix(n, "+") {
		return "", "", permanent(fmt.Errorf("relay: Paging.OnCall returned %q, which is not a phone number", twiliosms.MaskAddress(ph)))
	}
	for id, agent := range pg.AgentPhones {
		if agent == n {
			return id, n, nil // an admin on call: their text back is theirs
		}
	}
	return "", n, nil
}

// page sends the page for c's spell sp, once per spell, from key's sender.
func (r *Relay) page(ctx context.Context, key store.ThreadKey, c *intercom.Conversation, sp spell, why string) error {
	log := r.log.With("conversation", c.ID, "spell", sp.key)
	if done, err := r.st.Marked(ctx, string(markPaged(c.ID, sp.key))); err != nil {
		return fmt.Errorf("relay: reading page record: %w", err)
	} else if done {
		log.Debug("relay: this waiting spell was paged already")
		return nil
	}
	adminID, phone, err := r.pageTarget(ctx, c)
	if err != nil {
		return err
	}
	if phone == "" {
		log.Warn("relay: nobody to page: the conversation's admin has no number in Paging.AgentPhones and there is no on-call number")
		return nil
	}
	log = log.With("to", twiliosms.MaskAddress(phone), "admin", adminID)
	link := r.cfg.Paging.inboxLink(c.ID)
	gt := r.cfg.Cost.guard(pageText(why, key.Customer, sp.body, link), phone)
	if gt.held {
		// The customer's words made it too dear: page without them.
		gt = r.cfg.Cost.guard(pageText(why, key.Customer, "", link), phone)
	}
	if gt.held {
		log.Warn("relay: page held back by the cost guard")
		return nil
	}
	sender := bareNumber(key.Sender)
	for i, chunk := range gt.chunks {
		if err := r.sendPage(ctx, c.ID, sp.key, i, sender, phone, chunk); err != nil {
			if twiliosms.IsPermanent(err) || errors.Is(err, twiliosms.ErrInvalidMessage) {
				log.Error("relay: Twilio refused the page", "err", err)
				return permanent(fmt.Errorf("relay: paging: %w", err))
			}
			return fmt.Errorf("relay: paging: %w", err)
		}
	}
	rctx, cancel := detached(ctx)
	defer cancel()
	rec := store.Message{
		SID:            pageRecordSID(phone, sender),
		ConversationID: c.ID,
		PartID:         pagePartID(time.Now(), adminID, sp.key),
		Thread:         store.ThreadKey{Customer: phone, Sender: sender},
		Status:         "sent",
	}
	if err := r.st.PutMessage(rctx, rec); err != nil {
		return fmt.Errorf("relay: page sent, recording it failed: %w", err)
	}
	if err := r.st.Mark(rctx, string(markPaged(c.ID, sp.key))); err != nil {
		return fmt.Errorf("relay: page sent, recording it failed: %w", err)
	}
	log.Info("relay: paged", "why", why)
	return nil
}

// sendPage sends chunk i of a page, once.
func (r *Relay) sendPage(ctx context.Context, convID, spellKey string, i int, sender, phone, chunk string) error {
	if done, err := r.st.Marked(ctx, string(markPageSent(convID, spellKey, i))); err != nil {
		return fmt.Errorf("reading page record: %w", err)
	} else if done {
		return nil
	}
	msg := twiliosms.Message{To: phone, Body: chunk}
	if r.cfg.MessagingServiceSID != "" && sender == r.cfg.MessagingServiceSID {
		msg.MessagingServiceSID = sender
	} else {
		msg.From = sender
	}
	e := sideEffect[*twiliosms.Sent]{
		what:      "paging an agent",
		unsure:    markUnsurePage(convID, spellKey, i),
		do:        func(ctx context.Context) (*twiliosms.Sent, error) { return r.tw.Send(ctx, msg) },
		ambiguous: twiliosms.MaybeSent,
	}
	if r.tw.canList() {
		e.look = func(ctx context.Context) (*twiliosms.Sent, bool, error) {
			return r.sentBefore(ctx, msg, "", time.Time{})
		}
	}
	if _, _, err := once(ctx, r, e); err != nil {
		return err
	}
	mctx, cancel := detached(ctx)
	defer cancel()
	if err := r.st.Mark(mctx, string(markPageSent(convID, spellKey, i))); err != nil {
		return fmt.Errorf("recording page sent: %w", err)
	}
	return nil
}

// acknowledgePage takes a text from a number the relay paged, to the
// number the page came from, as the agent's answer: within
// Paging.AckWindow it becomes a note on the paged conversation authored by
// the paged admin, and a note that the page was acknowledged; later, it is
// set aside. It reports whether in was such a text: then it is never a
// customer's text, never a contact, and never reaches the customer.
func (r *Relay) acknowledgePage(ctx context.Context, in inboundJob) (bool, error) {
	if !r.cfg.Paging.enabled() || twiliosms.IsWhatsApp(in.From) {
		return false, nil
	}
	phone, sender := in.From, bareNumber(r.threadKey(in).Sender)
	rec, err := r.st.Message(ctx, pageRecordSID(phone, sender))
	if errors.Is(err, store.ErrNotFound) {
		if r.isAgentPhone(phone) {
			r.log.Warn("relay: text from an agent's number with no page to acknowledge; not relayed", "message", in.MessageSID, "from", twiliosms.MaskAddress(phone))
			return true, nil
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("relay: reading page record: %w", err)
	}
	sentAt, adminID, ok := parsePagePartID(rec.PartID)
	if !ok {
		return false, permanent(fmt.Errorf("relay: page record %q is unreadable", rec.PartID))
	}
	log := r.log.With("message", in.MessageSID, "from", twiliosms.MaskAddress(phone), "conversation", rec.ConversationID)
	at := in.ReceivedAt
	if at.IsZero() {
		at = time.Now()
	}
	if at.Sub(sentAt) > r.cfg.Paging.AckWindow {
		log.Info("relay: an agent's text after the acknowledgement window; not relayed")
		return true, nil
	}
	author := adminID
	if author == "" {
		author = r.cfg.NoteAuthor
	}
	noted, err := r.st.Marked(ctx, string(markPageAckNoted(in.MessageSID)))
	if err != nil {
		return true, fmt.Errorf("relay: reading acknowledgement record: %w", err)
	}
	if !noted {
		conv, err := r.ic.AddNote(ctx, rec.ConversationID, author, noteAgentAnswer(inboundText(in, false), twiliosms.MaskAddress(phone)))
		if errors.Is(err, intercom.ErrNotFound) {
			log.Info("relay: the paged conversation is gone; acknowledgement dropped")
			return true, nil
		}
		if err != nil {
			return true, fmt.Errorf("relay: adding the agent's answer: %w", err)
		}
		mctx, cancel := detached(ctx)
		defer cancel()
		if conv != nil {
			for i := len(conv.Parts) - 1; i >= 0; i-- {
				if p := conv.Parts[i]; p.PartType == "note" && p.Author.ID == author && p.ID != "" {
					if err := r.st.Mark(mctx, string(markPageAckPart(p.ID))); err != nil {
						return true, fmt.Errorf("relay: recording the acknowledgement: %w", err)
					}
					break
				}
			}
		}
		if err := r.st.Mark(mctx, string(markPageAckNoted(in.MessageSID))); err != nil {
			return true, fmt.Errorf("relay: recording the acknowledgement: %w", err)
		}
	}
	told, err := r.st.Marked(ctx, string(markPageAckTold(in.MessageSID)))
	if err != nil {
		return true, fmt.Errorf("relay: reading acknowledgement record: %w", err)
	}
	if !told {
		if _, err := r.ic.AddNote(ctx, rec.ConversationID, r.cfg.NoteAuthor, notePageAcknowledged(adminID, twiliosms.MaskAddress(phone), sentAt, at)); err != nil && !errors.Is(err, intercom.ErrNotFound) {
			return true, fmt.Errorf("relay: noting the acknowledgement: %w", err)
		}
		mctx, cancel := detached(ctx)
		defer cancel()
		if err := r.st.Mark(mctx, string(markPageAckTold(in.MessageSID))); err != nil {
			return true, fmt.Errorf("relay: recording the acknowledgement: %w", err)
		}
	}
	log.Info("relay: page acknowledged by SMS", "admin", adminID)
	return true, nil
}

// isAgentPhone reports whether phone is a number paging knows as an
// agent's.
func (r *Relay) isAgentPhone(phone string) bool {
	if phone == r.cfg.Paging.OnCallPhone {
		return true
	}
	for _, ph := range r.cfg.Paging.AgentPhones {
		if ph == phone {
			return true
		}
	}
	return false
}

// parsePagePartID reads what pagePartID wrote.
func parsePagePartID(id string) (at time.Time, adminID string, ok bool) {
	rest, found := strings.CutPrefix(id, pagePartPrefix)
	if !found {
		return time.Time{}, "", false
	}
	f := strings.SplitN(rest, ":", 3)
	if len(f) != 3 {
		return time.Time{}, "", false
	}
	secs, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.Unix(secs, 0).UTC(), f[1], true
}
