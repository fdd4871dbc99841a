package relay

import (
	"context"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
)

// budgeted puts every call to api through lim, the process's one Intercom
// budget. After admitting a call it marks the context with the admission, so
// that an *intercom.Client sharing the same limiter does not charge the call
// twice, while a client with a limiter of its own still applies it.
type budgeted struct {
	api IntercomAPI
	lim Limiter
}

func (b *budgeted) admit(ctx context.Context) (context.Context, error) {
	if err := b.lim.Wait(ctx); err != nil {
		return ctx, err
	}
	return intercom.ContextWithAdmission(ctx, b.lim), nil
}

func (b *budgeted) SearchContactsByPhone(ctx context.Context, phone string) ([]intercom.Contact, error) {
	ctx, err := b.admit(ctx)
	if err != nil {
		return nil, err
	}
	return b.api.SearchContactsByPhone(ctx, phone)
}

func (b *budgeted) CreateContact(ctx context.Context, c intercom.ContactCreate) (*intercom.Contact, error) {
	ctx, err := b.admit(ctx)
	if err != nil {
		return nil, err
	}
	return b.api.CreateContact(ctx, c)
}

func (b *budgeted) CreateConversation(ctx context.Context, c intercom.ConversationCreate) (*intercom.ConversationMessage, error) {
	ctx, err := b.admit(ctx)
	if err != nil {
		return nil, err
	}
	return b.api.CreateConversation(ctx, c)
}

func (b *budgeted) ReplyAsContact(ctx context.Context, id string, r intercom.ContactReply) (*intercom.Conversation, error) {
	ctx, err := b.admit(ctx)
	if err != nil {
		return nil, err
	}
	return b.api.ReplyAsContact(ctx, id, r)
}

func (b *budgeted) AddNote(ctx context.Context, id, adminID, body string) (*intercom.Conversation, error) {
	ctx, err := b.admit(ctx)
	if err != nil {
		return nil, err
	}
	return b.api.AddNote(ctx, id, adminID, body)
}

func (b *budgeted) Assign(ctx context.Context, id string, a intercom.Assignment) (*intercom.Conversation, error) {
	ctx, err := b.admit(ctx)
	if err != nil {
		return nil, err
	}
	return b.api.Assign(ctx, id, a)
}

func (b *budgeted) Open(ctx context.Context, id, adminID string) (*intercom.Conversation, error) {
	ctx, err := b.admit(ctx)
	if err != nil {
		return nil, err
	}
	return b.api.Open(ctx, id, adminID)
}

func (b *budgeted) TagConversation(ctx context.Context, id, tagID, adminID string) error {
	ctx, err := b.admit(ctx)
	if err != nil {
		return err
	}
	return b.api.TagConversation(ctx, id, tagID, adminID)
}

func (b *budgeted) Conversation(ctx context.Context, id string) (*intercom.Conversation, error) {
	ctx, err := b.admit(ctx)
	if err != nil {
		return nil, err
	}
	return b.api.Conversation(ctx, id)
}

// search runs a conversation search through the budget.
func (b *budgeted) search(ctx context.Context, f ConversationFinder, contactID string, since time.Time) ([]intercom.Conversation, error) {
	ctx, err := b.admit(ctx)
	if err != nil {
		return nil, err
	}
	return f.SearchConversationsByContact(ctx, contactID, since)
}
