package intercom

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxAttachmentURLs is Intercom's limit on attachment_urls per request.
const maxAttachmentURLs = 10

// ConversationCreate describes a conversation started by a contact.
type ConversationCreate struct {
	// FromType is the contact's kind: "lead", "user" or "contact"; empty
	// means "contact".
	FromType string
	// FromID is the contact's Intercom id.
	FromID string
	// Body is the first message, plain text (Intercom does not accept
	// HTML here).
	Body string
	// AttachmentURLs are up to 10 publicly fetchable image URLs.
	AttachmentURLs []string
}

type createConversationRequest struct {
	From struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"from"`
	Body           string   `json:"body"`
	AttachmentURLs []string `json:"attachment_urls,omitempty"`
}

// CreateConversation starts a conversation as a contact (POST
// /conversations). Intercom answers with the first message, not the
// conversation; its ConversationID is the new conversation's id. An answer
// without a conversation id is an error.
//
// It is retried only after failures that show Intercom did not act (429,
// 503, no connection). After an ambiguous failure (a timeout, 500, 502,
// 504, or its context ending while the request was in flight) it returns
// the error, for which [IsAmbiguous] is true: the conversation may exist,
// and a caller that tries again may create a second one.
func (c *Client) CreateConversation(ctx context.Context, cc ConversationCreate) (*ConversationMessage, error) {
	from := cc.FromType
	if from == "" {
		from = "contact"
	}
	if from != "lead" && from != "user" && from != "contact" {
		return nil, fmt.Errorf("intercom: CreateConversation: FromType must be \"lead\", \"user\" or \"contact\", got %q", cc.FromType)
	}
	if strings.TrimSpace(cc.FromID) == "" {
		return nil, errors.New("intercom: CreateConversation: empty FromID")
	}
	if err := checkMessage(cc.Body, cc.AttachmentURLs); err != nil {
		return nil, fmt.Errorf("intercom: CreateConversation: %w", err)
	}
	var req createConversationRequest
	req.From.Type, req.From.ID = from, cc.FromID
	req.Body, req.AttachmentURLs = cc.Body, cc.AttachmentURLs
	var out wireMessage
	if _, err := c.do(ctx, call{method: http.MethodPost, path: "/conversations", in: req, out: &out, creates: true}); err != nil {
		return nil, err
	}
	m := &ConversationMessage{Type: out.Type, ID: string(out.ID), ConversationID: string(out.ConversationID), CreatedAt: out.CreatedAt.time()}
	if out.Body != nil {
		m.Body = *out.Body
	}
	if m.ConversationID == "" {
		return nil, fmt.Errorf("intercom: POST /conversations: answer carries no conversation_id (message id %q)", m.ID)
	}
	return m, nil
}

// ContactReply is a reply written by a contact.
type ContactReply struct {
	// IntercomUserID is the replying contact's Intercom id.
	IntercomUserID string
	// Body is the reply; Intercom wraps plain text in HTML paragraphs.
	Body string
	// AttachmentURLs are up to 10 publicly fetchable image URLs.
	AttachmentURLs []string
}

type contactReplyRequest struct {
	MessageType    string   `json:"message_type"`
	Type           string   `json:"type"`
	IntercomUserID string   `json:"intercom_user_id"`
	Body           string   `json:"body"`
	AttachmentURLs []string `json:"attachment_urls,omitempty"`
}

type adminReplyRequest struct {
	MessageType string `json:"message_type"`
	Type        string `json:"type"`
	AdminID     string `json:"admin_id"`
	Body        string `json:"body"`
}

// ReplyAsContact adds a contact's reply to a conversation (POST
// /conversations/{id}/reply) and returns the updated conversation. A reply
// to a closed conversation reopens it.
func (c *Client) ReplyAsContact(ctx context.Context, conversationID string, r ContactReply) (*Conversation, error) {
	p, err := pathID("conversation id", conversationID)
	if err != nil {
		return nil, fmt.Errorf("intercom: ReplyAsContact: %w", err)
	}
	if strings.TrimSpace(r.IntercomUserID) == "" {
		return nil, errors.New("intercom: ReplyAsContact: empty IntercomUserID")
	}
	if err := checkMessage(r.Body, r.AttachmentURLs); err != nil {
		return nil, fmt.Errorf("intercom: ReplyAsContact: %w", err)
	}
	req := contactReplyRequest{MessageType: "comment", Type: "user", IntercomUserID: r.IntercomUserID, Body: r.Body, AttachmentURLs: r.AttachmentURLs}
	return c.conversationCall(ctx, http.MethodPost, "/conversations/"+p+"/reply", req, true)
}

// AddNote adds an internal note, visible to teammates only, to a
// conversation as the given admin (POST /conversations/{id}/reply with
// message_type "note"). The body may use simple HTML.
func (c *Client) AddNote(ctx context.Context, conversationID, adminID, body string) (*Conversation, error) {
	p, err := pathID("conversation id", conversationID)
	if err != nil {
		return nil, fmt.Errorf("intercom: AddNote: %w", err)
	}
	if strings.TrimSpace(adminID) == "" {
		return nil, errors.New("intercom: AddNote: empty admin id")
	}
	if strings.TrimSpace(body) == "" {
		return nil, errors.New("intercom: AddNote: empty body")
	}
	req := adminReplyRequest{MessageType: "note", Type: "admin", AdminID: adminID, Body: body}
	return c.conversationCall(ctx, http.MethodPost, "/conversations/"+p+"/reply", req, true)
}

// Assignment says who assigns a conversation to whom.
type Assignment struct {
	// AdminID is the admin performing the assignment.
	AdminID string
	// AssigneeID is the admin or team to assign to; "0" unassigns.
	AssigneeID string
	// AssigneeType is "admin" or "team": the kind of AssigneeID.
	AssigneeType string
}

type assignRequest struct {
	MessageType string `json:"message_type"`
	Type        string `json:"type"`
	AdminID     string `json:"admin_id"`
	AssigneeID  string `json:"assignee_id"`
}

// Assign assigns a conversation to an admin or a team (POST
// /conversations/{id}/parts with message_type "assignment"). A
// conversation can have both an admin and a team assignee.
func (c *Client) Assign(ctx context.Context, conversationID string, a Assignment) (*Conversation, error) {
	p, err := pathID("conversation id", conversationID)
	if err != nil {
		return nil, fmt.Errorf("intercom: Assign: %w", err)
	}
	if a.AssigneeType != "admin" && a.AssigneeType != "team" {
		return nil, fmt.Errorf("intercom: Assign: AssigneeType must be \"admin\" or \"team\", got %q", a.AssigneeType)
	}
	if strings.TrimSpace(a.AdminID) == "" {
		return nil, errors.New("intercom: Assign: empty AdminID")
	}
	if strings.TrimSpace(a.AssigneeID) == "" {
		return nil, errors.New("intercom: Assign: empty AssigneeID (use \"0\" to unassign)")
	}
	req := assignRequest{MessageType: "assignment", Type: a.AssigneeType, AdminID: a.AdminID, AssigneeID: a.AssigneeID}
	return c.conversationCall(ctx, http.MethodPost, "/conversations/"+p+"/parts", req, false)
}

type openRequest struct {
	MessageType string `json:"message_type"`
	AdminID     string `json:"admin_id"`
}

// Open reopens a closed or snoozed conversation as the given admin (POST
// /conversations/{id}/parts with message_type "open").
func (c *Client) Open(ctx context.Context, conversationID, adminID string) (*Conversation, error) {
	p, err := pathID("conversation id", conversationID)
	if err != nil {
		return nil, fmt.Errorf("intercom: Open: %w", err)
	}
	if strings.TrimSpace(adminID) == "" {
		return nil, errors.New("intercom: Open: empty admin id")
	}
	return c.conversationCall(ctx, http.MethodPost, "/conversations/"+p+"/parts", openRequest{MessageType: "open", AdminID: adminID}, false)
}

type tagRequest struct {
	ID      string `json:"id"`
	AdminID string `json:"admin_id"`
}

// TagConversation attaches an existing tag to a conversation as the given
// admin (POST /conversations/{id}/tags).
func (c *Client) TagConversation(ctx context.Context, conversationID, tagID, adminID string) error {
	p, err := pathID("conversation id", conversationID)
	if err != nil {
		return fmt.Errorf("intercom: TagConversation: %w", err)
	}
	if strings.TrimSpace(tagID) == "" {
		return errors.New("intercom: TagConversation: empty tag id")
	}
	if strings.TrimSpace(adminID) == "" {
		return errors.New("intercom: TagConversation: empty admin id")
	}
	_, err = c.do(ctx, call{method: http.MethodPost, path: "/conversations/" + p + "/tags", in: tagRequest{ID: tagID, AdminID: adminID}})
	return err
}

// Conversation fetches a conversation (GET /conversations/{id}) with its
// state, source, contacts and up to 500 most recent parts. Bodies are
// HTML. A conversation that no longer exists answers an error matching
// [ErrNotFound].
func (c *Client) Conversation(ctx context.Context, id string) (*Conversation, error) {
	p, err := pathID("conversation id", id)
	if err != nil {
		return nil, fmt.Errorf("intercom: Conversation: %w", err)
	}
	return c.conversationCall(ctx, http.MethodGet, "/conversations/"+p, nil, false)
}

// conversationCall makes a call that answers with a conversation.
func (c *Client) conversationCall(ctx context.Context, method, path string, in any, creates bool) (*Conversation, error) {
	var out wireConversation
	if _, err := c.do(ctx, call{method: method, path: path, in: in, out: &out, creates: creates}); err != nil {
		return nil, err
	}
	conv := out.conversation()
	if conv.ID == "" {
		return nil, fmt.Errorf("intercom: %s %s: answer carries no conversation id", method, path)
	}
	return conv, nil
}

// checkMessage validates a message body and its attachment URLs.
func checkMessage(body string, urls []string) error {
	if strings.TrimSpace(body) == "" && len(urls) == 0 {
		return errors.New("empty body and no attachments")
	}
	if len(urls) > maxAttachmentURLs {
		return fmt.Errorf("%d attachment URLs, Intercom accepts at most %d", len(urls), maxAttachmentURLs)
	}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("attachment URL %q is not an absolute http(s) URL", s)
		}
	}
	return nil
}

// conversationSearchPageSize is how many conversations one
// SearchConversationsByContact call asks for: Intercom's maximum.
const conversationSearchPageSize = 150

// SearchConversationsByContact returns the conversations of a contact
// created at or after since, newest first (POST /conversations/search, one
// page of up to 150). since is compared in whole seconds, as Intercom
// stores created_at: a conversation created during the second of since is
// included. The conversations carry their state, source (with its HTML
// body and author) and contacts, but no parts; fetch one with
// [Client.Conversation] for those.
//
// Its use is to look before repeating a [Client.CreateConversation] that
// failed ambiguously ([IsAmbiguous]): search from a little before the first
// attempt (Intercom stamps created_at with its own clock) and match the
// source's author and body. Mind two limits. Intercom's search index lags
// behind writes: the API description says so for contacts (a delay of "a
// few minutes") and says nothing either way for conversations, so expect
// the same, and do not take an empty answer soon after the attempt as proof
// that no conversation was created. And since the search has no sort
// order, a contact with more than 150 matching conversations gets an error
// rather than a list that may lack the newest: narrow since.
//
// It is a read, retried after any transient failure.
func (c *Client) SearchConversationsByContact(ctx context.Context, contactID string, since time.Time) ([]Conversation, error) {
	if strings.TrimSpace(contactID) == "" {
		return nil, errors.New("intercom: SearchConversationsByContact: empty contact id")
	}
	if strings.IndexFunc(contactID, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return nil, fmt.Errorf("intercom: SearchConversationsByContact: invalid contact id %q", contactID)
	}
	if since.IsZero() {
		return nil, errors.New("intercom: SearchConversationsByContact: zero since")
	}
	secs := since.Unix()
	if secs < 1 {
		return nil, fmt.Errorf("intercom: SearchConversationsByContact: since %v is not after the UNIX epoch", since)
	}
	// The API description calls ">" on dates both "greater than" and
	// "greater (or equal) than", and dates accept only =, < and >. Asking
	// for > secs-1 covers the second of since either way; anything older
	// that a ">=" reading lets through is dropped below.
	req := searchRequest{
		Query: searchQuery{Operator: "AND", Value: []searchFilter{
			{Field: "contact_ids", Operator: "=", Value: contactID},
			{Field: "created_at", Operator: ">", Value: strconv.FormatInt(secs-1, 10)},
		}},
		Pagination: map[string]int{"per_page": conversationSearchPageSize},
	}
	const path = "/conversations/search"
	var out wireConversationList
	if _, err := c.do(ctx, call{method: http.MethodPost, path: path, in: req, out: &out}); err != nil {
		return nil, err
	}
	more := out.Pages != nil && out.Pages.Next != nil && out.Pages.Next.StartingAfter != nil && *out.Pages.Next.StartingAfter != ""
	if more || out.TotalCount != nil && *out.TotalCount > len(out.Conversations) {
		total := "more"
		if out.TotalCount != nil {
			total = strconv.Itoa(*out.TotalCount)
		}
		return nil, fmt.Errorf("intercom: POST %s: %s conversations of contact %s since %d, more than one page of %d; narrow since",
			path, total, contactID, secs, conversationSearchPageSize)
	}
	floor := time.Unix(secs, 0)
	convs := make([]Conversation, 0, len(out.Conversations))
	for i := range out.Conversations {
		conv := out.Conversations[i].conversation()
		if conv.ID == "" {
			return nil, fmt.Errorf("intercom: POST %s: conversation %d of the answer carries no id", path, i)
		}
		if !conv.CreatedAt.IsZero() && conv.CreatedAt.Before(floor) {
			continue
		}
		convs = append(convs, *conv)
	}
	slices.SortStableFunc(convs, func(a, b Conversation) int {
		if d := b.CreatedAt.Compare(a.CreatedAt); d != 0 {
			return d
		}
		return compareIDs(b.ID, a.ID)
	})
	return convs, nil
}

// compareIDs orders Intercom's numeric conversation ids by value, which
// grows with creation; other ids compare as strings.
func compareIDs(a, b string) int {
	if isDigits(a) && isDigits(b) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if d := len(a) - len(b); d != 0 {
			return d
		}
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
