package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// This file is the relay's one route to each API. New wraps the clients
// from the Config once, resolves their optional capabilities, and drops
// its references to the raw clients: nothing after New can call Intercom
// without the budget, or Twilio without being counted.

// intercomRoute puts every Intercom call through lim, the process's one
// Intercom budget. After admitting a call it marks the context with the
// admission, so that an *intercom.Client sharing the same limiter does not
// charge the call twice, while a client with a limiter of its own still
// applies it.
type intercomRoute struct {
	api    IntercomAPI
	finder ConversationFinder // nil: the client cannot search conversations
	lim    Limiter
	m      *metrics      // nil: not counted
	w      *watch        // nil: not watched
	tr     trace.Tracer  // nil: not traced
	noter  ContactNoter  // nil: the client cannot note contacts
	reader ContactReader // nil: the client cannot read contacts
	// notes is nil when the client cannot list a contact's notes.
	notes ContactNoteLister

	updater ContactUpdater // nil: the client cannot update contacts (contactsync.go)
	ident   IdentityAPI    // nil: the client cannot search by email and merge (identity.go)
	// liveWaiting counts calls other than a backfill's waiting for the
	// budget: while there is one, a backfill holds back (backfill_budget.go).
	liveWaiting atomic.Int64
	bf          *backfillGate // nil: no backfill gate (tests building a route alone)
}

func newIntercomRoute(api IntercomAPI, lim Limiter) *intercomRoute {
	f, _ := api.(ConversationFinder)
	n, _ := api.(ContactNoter)
	rd, _ := api.(ContactReader)
	u, _ := api.(ContactUpdater)
	id, _ := api.(IdentityAPI)
	nl, _ := api.(ContactNoteLister)
	return &intercomRoute{api: api, finder: f, lim: lim, noter: n, reader: rd, updater: u, ident: id, notes: nl}
}

// Contact updates (contactsync.go): call them only when updater is set.

// UpdateContact updates a contact through the budget.
func (b *intercomRoute) UpdateContact(ctx context.Context, id string, u intercom.ContactUpdate) (*intercom.Contact, error) {
	return callAt(ctx, b, "contacts.update", func(ctx context.Context) (*intercom.Contact, error) { return b.updater.UpdateContact(ctx, id, u) })
}

// TagContact tags a contact through the budget.
func (b *intercomRoute) TagContact(ctx context.Context, contactID, tagID string) error {
	_, err := callAt(ctx, b, "contacts.tag", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.updater.TagContact(ctx, contactID, tagID)
	})
	return err
}

// UntagContact untags a contact through the budget.
func (b *intercomRoute) UntagContact(ctx context.Context, contactID, tagID string) error {
	_, err := callAt(ctx, b, "contacts.untag", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.updater.UntagContact(ctx, contactID, tagID)
	})
	return err
}

// CreateTag finds or creates a tag through the budget.
func (b *intercomRoute) CreateTag(ctx context.Context, name string) (*intercom.Tag, error) {
	return callAt(ctx, b, "tags.create", func(ctx context.Context) (*intercom.Tag, error) { return b.updater.CreateTag(ctx, name) })
}

// SearchContactsByEmail searches through the budget; call it only when
// ident is set.
func (b *intercomRoute) SearchContactsByEmail(ctx context.Context, email string) ([]intercom.Contact, error) {
	return callAt(ctx, b, "contacts.search", func(ctx context.Context) ([]intercom.Contact, error) {
		return b.ident.SearchContactsByEmail(ctx, email)
	})
}

// MergeContacts merges a lead into a user through the budget, with
// Intercom's duplicate check unless skip; call it only when ident is set.
func (b *intercomRoute) MergeContacts(ctx context.Context, from, into string, skip bool) (*intercom.Contact, error) {
	return callAt(ctx, b, "contacts.merge", func(ctx context.Context) (*intercom.Contact, error) {
		if skip {
			return b.ident.MergeContactsSkippingValidation(ctx, from, into)
		}
		return b.ident.MergeContacts(ctx, from, into)
	})
}

// AddContactNote notes a contact through the budget; call it only when
// noter is set.
func (b *intercomRoute) AddContactNote(ctx context.Context, contactID, adminID, body string) (*intercom.ContactNote, error) {
	return callAt(ctx, b, "contacts.notes.create", func(ctx context.Context) (*intercom.ContactNote, error) {
		return b.noter.AddContactNote(ctx, contactID, adminID, body)
	})
}

// ContactNotes lists a contact's notes through the budget; call it only
// when notes is set.
func (b *intercomRoute) ContactNotes(ctx context.Context, contactID string, since time.Time) ([]intercom.ContactNote, error) {
	return callAt(ctx, b, "contacts.notes.list", func(ctx context.Context) ([]intercom.ContactNote, error) {
		return b.notes.ContactNotes(ctx, contactID, since)
	})
}

// Contact reads a contact through the budget; call it only when reader is
// set.
func (b *intercomRoute) Contact(ctx context.Context, id string) (*intercom.Contact, error) {
	return callAt(ctx, b, "contacts.get", func(ctx context.Context) (*intercom.Contact, error) { return b.reader.Contact(ctx, id) })
}

func (b *intercomRoute) admit(ctx context.Context) (context.Context, error) {
	backfill := backfillGateOf(ctx) != nil
	if backfill && b.bf != nil {
		if err := b.bf.wait(ctx, &b.liveWaiting); err != nil {
			return ctx, fmt.Errorf("relay: Intercom budget (backfill): %w: %w", intercom.ErrNotSent, err)
		}
	} else if !backfill {
		b.liveWaiting.Add(1)
		defer func() {
			b.liveWaiting.Add(-1)
			if b.bf != nil {
				b.bf.noteLive()
			}
		}()
	}
	if err := b.lim.Wait(ctx); err != nil {
		// Never sent, so never ambiguous.
		return ctx, fmt.Errorf("relay: Intercom budget: %w: %w", intercom.ErrNotSent, err)
	}
	return intercom.ContextWithAdmission(ctx, b.lim), nil
}

// callAt admits one call to endpoint through the budget and makes it. It
// counts the call by endpoint and status, the time it waited for the
// budget, and Intercom's 429s.
func callAt[T any](ctx context.Context, b *intercomRoute, endpoint string, f func(context.Context) (T, error)) (T, error) {
	ctx, span := startCall(ctx, b.tr, "intercom", endpoint)
	defer span.End()
	waited := time.Now()
	ctx, err := b.admit(ctx)
	if b.m != nil {
		b.m.budgetWait.Record(ctx, time.Since(waited).Seconds())
	}
	if err != nil {
		b.count(ctx, endpoint, err)
		if b.tr != nil {
			span.SetStatus(codes.Error, "not sent: budget")
		}
		var zero T
		return zero, err
	}
	if b.w != nil {
		b.w.admit()
	}
	v, err := f(ctx)
	status := b.count(ctx, endpoint, err)
	if b.tr != nil {
		span.SetAttributes(attribute.String("http.response.status", status))
		if err != nil {
			span.SetStatus(codes.Error, "status "+status)
		}
	}
	return v, err
}

// count records the outcome of a call to endpoint.
func (b *intercomRoute) count(ctx context.Context, endpoint string, err error) string {
	status := "200"
	var ie *intercom.Error
	switch {
	case err == nil:
	case errors.As(err, &ie):
		status = strconv.Itoa(ie.StatusCode)
		if ie.StatusCode == http.StatusTooManyRequests {
			if b.m != nil {
				b.m.icLimited.Add(ctx, 1, metric.WithAttributes(attribute.String("endpoint", endpoint)))
			}
			if b.w != nil {
				b.w.hold(endpoint, ie.RetryAfter)
			}
		}
	case errors.Is(err, intercom.ErrNotSent):
		status = "not_sent"
	default:
		status = "error"
	}
	if b.m != nil {
		b.m.icRequests.Add(ctx, 1, metric.WithAttributes(attribute.String("endpoint", endpoint), attribute.String("status", status)))
	}
	return status
}

func (b *intercomRoute) SearchContactsByPhone(ctx context.Context, phone string) ([]intercom.Contact, error) {
	return callAt(ctx, b, "contacts.search", func(ctx context.Context) ([]intercom.Contact, error) { return b.api.SearchContactsByPhone(ctx, phone) })
}

func (b *intercomRoute) CreateContact(ctx context.Context, c intercom.ContactCreate) (*intercom.Contact, error) {
	return callAt(ctx, b, "contacts.create", func(ctx context.Context) (*intercom.Contact, error) { return b.api.CreateContact(ctx, c) })
}

func (b *intercomRoute) CreateConversation(ctx context.Context, c intercom.ConversationCreate) (*intercom.ConversationMessage, error) {
	return callAt(ctx, b, "conversations.create", func(ctx context.Context) (*intercom.ConversationMessage, error) {
		return b.api.CreateConversation(ctx, c)
	})
}

func (b *intercomRoute) ReplyAsContact(ctx context.Context, id string, r intercom.ContactReply) (*intercom.Conversation, error) {
	return callAt(ctx, b, "conversations.reply", func(ctx context.Context) (*intercom.Conversation, error) { return b.api.ReplyAsContact(ctx, id, r) })
}

func (b *intercomRoute) AddNote(ctx context.Context, id, adminID, body string) (*intercom.Conversation, error) {
	return callAt(ctx, b, "conversations.note", func(ctx context.Context) (*intercom.Conversation, error) {
		return b.api.AddNote(ctx, id, adminID, body)
	})
}

func (b *intercomRoute) Assign(ctx context.Context, id string, a intercom.Assignment) (*intercom.Conversation, error) {
	return callAt(ctx, b, "conversations.assign", func(ctx context.Context) (*intercom.Conversation, error) { return b.api.Assign(ctx, id, a) })
}

func (b *intercomRoute) Open(ctx context.Context, id, adminID string) (*intercom.Conversation, error) {
	return callAt(ctx, b, "conversations.open", func(ctx context.Context) (*intercom.Conversation, error) { return b.api.Open(ctx, id, adminID) })
}

func (b *intercomRoute) TagConversation(ctx context.Context, id, tagID, adminID string) error {
	_, err := callAt(ctx, b, "conversations.tag", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.api.TagConversation(ctx, id, tagID, adminID)
	})
	return err
}

func (b *intercomRoute) Conversation(ctx context.Context, id string) (*intercom.Conversation, error) {
	return callAt(ctx, b, "conversations.get", func(ctx context.Context) (*intercom.Conversation, error) { return b.api.Conversation(ctx, id) })
}

// canFind reports whether the client can search a contact's conversations.
func (b *intercomRoute) canFind() bool { return b.finder != nil }

// SearchConversationsByContact searches through the budget; call it only
// when canFind.
func (b *intercomRoute) SearchConversationsByContact(ctx context.Context, contactID string, since time.Time) ([]intercom.Conversation, error) {
	return callAt(ctx, b, "conversations.search", func(ctx context.Context) ([]intercom.Conversation, error) {
		return b.finder.SearchConversationsByContact(ctx, contactID, since)
	})
}

// twilioRoute is the relay's one route to Twilio: it counts what Twilio
// accepted and holds the optional message list.
type twilioRoute struct {
	api    SMSSender
	lister SentLister    // nil: the client cannot list messages
	hist   HistoryLister // nil: the client cannot read the message log
	media  MediaLister   // nil: the client cannot list a message's media
	m      *metrics
	w      *watch       // nil: not watched
	tr     trace.Tracer // nil: not traced
}

func newTwilioRoute(api SMSSender, m *metrics) *twilioRoute {
	l, _ := api.(SentLister)
	h, _ := api.(HistoryLister)
	ml, _ := api.(MediaLister)
	return &twilioRoute{api: api, lister: l, hist: h, media: ml, m: m}
}

// Send sends one text and counts it when Twilio accepted it.
func (t *twilioRoute) Send(ctx context.Context, msg twiliosms.Message) (*twiliosms.Sent, error) {
	ctx, span := startCall(ctx, t.tr, "twilio", "messages.create")
	defer span.End()
	cost := twiliosms.CountSegments(msg.Body) // known before the send, counted once accepted
	sent, err := t.api.Send(ctx, msg)
	if err != nil && t.tr != nil {
		code, _ := twiliosms.ErrorCode(err)
		span.SetAttributes(attribute.Int("twilio.error_code", code))
		span.SetStatus(codes.Error, "send failed")
	}
	if err == nil {
		t.m.smsSent.Add(ctx, 1)
		t.m.segments(ctx, msg.To, cost)
	} else if code, ok := twiliosms.ErrorCode(err); ok {
		// Twilio refused the text; failures without a code (timeouts,
		// 5xx) are retried and not counted here.
		t.m.sendFailure(ctx, code, "send")
		if t.w != nil {
			t.w.failed(code, "send")
		}
	}
	return sent, err
}

// canList reports whether the client can list recent messages.
func (t *twilioRoute) canList() bool { return t.lister != nil }

// Recent lists texts to an address; call it only when canList.
func (t *twilioRoute) Recent(ctx context.Context, to string, since time.Time) ([]twiliosms.Record, error) {
	return t.lister.Recent(ctx, to, since)
}

// HistoryPage reads a page of the message log; call it only when hist is
// set.
func (t *twilioRoute) HistoryPage(ctx context.Context, q twiliosms.HistoryQuery, cursor string) (twiliosms.HistoryPage, error) {
	ctx, span := startCall(ctx, t.tr, "twilio", "messages.list")
	defer span.End()
	p, err := t.hist.HistoryPage(ctx, q, cursor)
	if err != nil && t.tr != nil {
		span.SetStatus(codes.Error, "list failed")
	}
	return p, err
}
