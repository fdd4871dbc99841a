package intercomtest

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// Conversation returns the conversation with the given id.
func (s *Server) Conversation(id string) (Conversation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conversations[id]
	if c == nil {
		return Conversation{}, false
	}
	return c.clone(), true
}

// Conversations returns every conversation, in creation order.
func (s *Server) Conversations() []Conversation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Conversation, 0, len(s.convOrder))
	for _, id := range s.convOrder {
		out = append(out, s.conversations[id].clone())
	}
	return out
}

// DeleteConversation deletes a conversation, as an admin deleting it in the
// inbox: from then on the API answers 404 for it.
func (s *Server) DeleteConversation(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conversations[id] == nil {
		return fmt.Errorf("intercomtest: DeleteConversation: no conversation %q", id)
	}
	delete(s.conversations, id)
	delete(s.indexed, id)
	for i, o := range s.convOrder {
		if o == id {
			s.convOrder = append(s.convOrder[:i], s.convOrder[i+1:]...)
			break
		}
	}
	s.deleted[id] = true
	return nil
}

// StartConversation creates a conversation started by a contact, as
// POST /conversations does (though no request is recorded or counted).
func (s *Server) StartConversation(contactID, body string, attachmentURLs ...string) (Conversation, error) {
	return s.startConversation("StartConversation", contactID, body, time.Now(), attachmentURLs)
}

// StartConversationAt creates a conversation started by a contact at a past
// time at, as POST /conversations with created_at does (an import of
// history; no request is recorded or counted): a quick way to give a
// contact many conversations, older than a test's requests. at is stored in
// whole seconds, as Intercom stores created_at; a zero at, or one in the
// future, is refused.
func (s *Server) StartConversationAt(contactID, body string, at time.Time, attachmentURLs ...string) (Conversation, error) {
	switch {
	case at.IsZero():
		return Conversation{}, fmt.Errorf("intercomtest: StartConversationAt: zero time")
	case at.Unix() < 1:
		return Conversation{}, fmt.Errorf("intercomtest: StartConversationAt: %v is not after the UNIX epoch", at)
	case at.After(time.Now()):
		return Conversation{}, fmt.Errorf("intercomtest: StartConversationAt: %v is in the future", at)
	}
	return s.startConversation("StartConversationAt", contactID, body, time.Unix(at.Unix(), 0), attachmentURLs)
}

func (s *Server) startConversation(name, contactID, body string, at time.Time, attachmentURLs []string) (Conversation, error) {
	if strings.TrimSpace(body) == "" && len(attachmentURLs) == 0 {
		return Conversation{}, fmt.Errorf("intercomtest: %s: body is empty", name)
	}
	atts, err := attachments(attachmentURLs)
	if err != nil {
		return Conversation{}, fmt.Errorf("intercomtest: %s: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ct := s.contacts[contactID]
	if ct == nil || ct.MergedInto != "" {
		return Conversation{}, fmt.Errorf("intercomtest: %s: no live contact %q", name, contactID)
	}
	return s.newConversationLocked(ct, body, "", atts, at).clone(), nil
}

// AddTag creates a tag that conversations can be tagged with and returns it.
func (s *Server) AddTag(name string) (Tag, error) {
	if strings.TrimSpace(name) == "" {
		return Tag{}, fmt.Errorf("intercomtest: AddTag: name is empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tags {
		if strings.EqualFold(t.Name, name) {
			return *t, nil
		}
	}
	s.seq.tag++
	t := &Tag{ID: strconv.FormatInt(s.seq.tag+7522900, 10), Name: name}
	s.tags[t.ID] = t
	return *t, nil
}

func (s *Server) newConversationLocked(ct *Contact, body, subject string, atts []Attachment, at time.Time) *Conversation {
	s.seq.conv++
	s.seq.msg++
	c := &Conversation{
		ID:         strconv.FormatInt(s.seq.conv, 10),
		State:      StateOpen,
		ContactIDs: []string{ct.ID},
		Source: Source{
			Type:        "conversation",
			ID:          strconv.FormatInt(403918300+s.seq.msg, 10),
			DeliveredAs: "customer_initiated",
			Subject:     subject,
			Body:        toHTML(body),
			Author:      contactAuthor(ct),
			Attachments: atts,
		},
		CreatedAt: at,
		UpdatedAt: at,
	}
	s.conversations[c.ID] = c
	s.convOrder = append(s.convOrder, c.ID)
	s.indexed[c.ID] = time.Now()
	return c
}

func contactAuthor(ct *Contact) Author {
	return Author{Type: ct.Role, ID: ct.ID, Name: ct.Name, Email: ct.Email}
}

func adminAuthor(id string) Author {
	return Author{Type: "admin", ID: id, Name: "Admin " + id, Email: "admin" + id + "@example.com"}
}

func (s *Server) botAuthor() Author {
	return Author{Type: "bot", ID: "278", Name: "Fin", Email: "operator+" + s.AppID + "@intercom.io", FromAIAgent: true}
}

// attachments turns attachment URLs into upload attachments.
func attachments(urls []string) ([]Attachment, error) {
	if len(urls) > 10 {
		return nil, fmt.Errorf("at most 10 attachment URLs, got %d", len(urls))
	}
	var out []Attachment
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("attachment URL %q is not an absolute http(s) URL", raw)
		}
		name := path.Base(u.Path)
		if name == "/" || name == "." {
			name = "attachment"
		}
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		ct, _, _ = strings.Cut(ct, ";")
		out = append(out, Attachment{Type: "upload", Name: name, URL: raw, ContentType: ct})
	}
	return out, nil
}

// addPartLocked appends a part with a fresh id to c and stamps the change
// (see stampLocked). A part without a creation time gets the stamp.
func (s *Server) addPartLocked(c *Conversation, p Part) Part {
	s.seq.part++
	p.ID = strconv.FormatInt(s.seq.part, 10)
	at := stampLocked(c, time.Now())
	if p.CreatedAt.IsZero() {
		p.CreatedAt = at
	}
	c.Parts = append(c.Parts, p)
	return p
}

// stampLocked records a change to c made at now and returns the time it is
// stamped with, which becomes c's UpdatedAt: now in whole seconds, or one
// second after c's previous change when that is not earlier. Intercom gives
// times in whole seconds and may stamp two changes within one second alike;
// the fake spreads them a second apart, running ahead of the clock if it
// must, so that updated_at advances with every change and tests can order
// changes by it.
func stampLocked(c *Conversation, now time.Time) time.Time {
	at := now.Truncate(time.Second)
	if last := c.UpdatedAt.Truncate(time.Second); !at.After(last) {
		at = last.Add(time.Second)
	}
	c.UpdatedAt = at
	return at
}

func (c *call) notFound() {
	c.fail(http.StatusNotFound, "not_found", "Resource Not Found")
}

// ---- POST /conversations ----

type createConversationRequest struct {
	From *struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"from"`
	Body           *string  `json:"body"`
	Subject        string   `json:"subject"`
	AttachmentURLs []string `json:"attachment_urls"`
	CreatedAt      *int64   `json:"created_at"`
}

type wireMessage struct {
	Type           string `json:"type"`
	ID             string `json:"id"`
	CreatedAt      int64  `json:"created_at"`
	Body           string `json:"body"`
	MessageType    string `json:"message_type"`
	ConversationID string `json:"conversation_id"`
}

func (s *Server) createConversation(c *call) {
	var req createConversationRequest
	if !c.decode(&req) {
		return
	}
	switch {
	case req.From == nil:
		c.fail(http.StatusBadRequest, "parameter_not_found", "from is required")
		return
	case req.From.Type != "lead" && req.From.Type != "user" && req.From.Type != "contact":
		c.fail(http.StatusBadRequest, "parameter_invalid", "from.type must be one of lead, user, contact")
		return
	case req.Body == nil:
		c.fail(http.StatusBadRequest, "parameter_not_found", "body is required")
		return
	case strings.TrimSpace(*req.Body) == "" && len(req.AttachmentURLs) == 0:
		c.fail(http.StatusBadRequest, "parameter_invalid", "body is empty")
		return
	}
	atts, err := attachments(req.AttachmentURLs)
	if err != nil {
		c.fail(http.StatusBadRequest, "parameter_invalid", err.Error())
		return
	}
	at := time.Now()
	if req.CreatedAt != nil {
		at = time.Unix(*req.CreatedAt, 0)
	}
	s.mu.Lock()
	ct := s.contacts[req.From.ID]
	if ct == nil || ct.MergedInto != "" {
		s.mu.Unlock()
		c.fail(http.StatusNotFound, "not_found", "User Not Found")
		return
	}
	conv := s.newConversationLocked(ct, *req.Body, req.Subject, atts, at)
	msg := wireMessage{Type: "user_message", ID: conv.Source.ID, CreatedAt: at.Unix(), Body: *req.Body,
		MessageType: "inapp", ConversationID: conv.ID}
	s.mu.Unlock()
	c.ok(msg)
}

// ---- GET /conversations/{id} ----

func (s *Server) retrieveConversation(c *call, id string) {
	view := htmlView
	if c.r.URL.Query().Get("display_as") == "plaintext" {
		view = toText
	}
	s.mu.Lock()
	conv := s.conversations[id]
	var w wireConversation
	if conv != nil {
		w = s.wireConversation(conv, conv.Parts, view)
	}
	s.mu.Unlock()
	if conv == nil {
		c.notFound()
		return
	}
	c.ok(w)
}

// ---- POST /conversations/search ----

type wireConversationList struct {
	Type          string             `json:"type"`
	Conversations []wireConversation `json:"conversations"`
	TotalCount    int                `json:"total_count"`
	Pages         wirePages          `json:"pages"`
}

// conversationFields are the conversation fields the server can search on,
// with the types the API description gives them.
var conversationFields = fieldSet{
	"id": kindString, "state": kindString, "contact_ids": kindString, "tag_ids": kindString,
	"created_at": kindDate, "updated_at": kindDate, "waiting_since": kindDate, "snoozed_until": kindDate,
	"open": kindBool, "read": kindBool,
	"admin_assignee_id": kindInt, "team_assignee_id": kindInt,
	"source.type": kindString, "source.id": kindString, "source.delivered_as": kindString,
	"source.subject": kindString, "source.author.id": kindString, "source.author.type": kindString,
	"source.author.name": kindString, "source.author.email": kindString,
}

// searchValues returns the values of a searchable conversation field;
// contact_ids and tag_ids have one per contact or tag.
func (c *Conversation) searchValues(field string) []string {
	one := func(s string) []string { return []string{s} }
	secs := func(t time.Time) []string {
		if t.IsZero() {
			return nil
		}
		return one(strconv.FormatInt(t.Unix(), 10))
	}
	assignee := func(id string) []string {
		if id == "" {
			return one("0")
		}
		return one(id)
	}
	switch field {
	case "id":
		return one(c.ID)
	case "state":
		return one(c.State)
	case "contact_ids":
		return c.ContactIDs
	case "tag_ids":
		var ids []string
		for _, t := range c.Tags {
			ids = append(ids, t.ID)
		}
		return ids
	case "created_at":
		return secs(c.CreatedAt)
	case "updated_at":
		return secs(c.UpdatedAt)
	case "waiting_since":
		if c.State != StateOpen {
			return nil
		}
		return secs(c.waitingSince())
	case "snoozed_until":
		return secs(c.SnoozedUntil)
	case "open":
		return one(strconv.FormatBool(c.Open()))
	case "read":
		return one(strconv.FormatBool(c.Read))
	case "admin_assignee_id":
		return assignee(c.AdminAssigneeID)
	case "team_assignee_id":
		return assignee(c.TeamAssigneeID)
	case "source.type":
		return one(c.Source.Type)
	case "source.id":
		return one(c.Source.ID)
	case "source.delivered_as":
		return one(c.Source.DeliveredAs)
	case "source.subject":
		return one(c.Source.Subject)
	case "source.author.id":
		return one(c.Source.Author.ID)
	case "source.author.type":
		return one(c.Source.Author.Type)
	case "source.author.name":
		return one(c.Source.Author.Name)
	case "source.author.email":
		return one(c.Source.Author.Email)
	}
	return nil
}

func (s *Server) searchConversations(c *call) {
	var req searchRequest
	if !c.decode(&req) {
		return
	}
	f, ok := c.query(&req, conversationFields)
	if !ok {
		return
	}
	perPage, offset, ok := c.page(&req, 20)
	if !ok {
		return
	}
	now := time.Now()
	s.mu.Lock()
	var hits []*Conversation
	for _, id := range s.convOrder {
		conv := s.conversations[id]
		if now.Sub(s.indexed[id]) < s.cfg.searchLag {
			continue
		}
		if f.match(conv.searchValues) {
			hits = append(hits, conv)
		}
	}
	lo, hi := bounds(len(hits), offset, perPage)
	out := wireConversationList{
		Type:          "conversation.list",
		Conversations: make([]wireConversation, 0, hi-lo),
		TotalCount:    len(hits),
		Pages:         pages(len(hits), offset, perPage),
	}
	for _, conv := range hits[lo:hi] {
		w := s.wireConversation(conv, nil, htmlView)
		w.Parts = nil // list items carry no parts
		out.Conversations = append(out.Conversations, w)
	}
	s.mu.Unlock()
	c.ok(out)
}

// ---- POST /conversations/{id}/reply ----

type replyRequest struct {
	MessageType    string   `json:"message_type"`
	Type           string   `json:"type"`
	Body           *string  `json:"body"`
	IntercomUserID *string  `json:"intercom_user_id"`
	UserID         *string  `json:"user_id"`
	Email          *string  `json:"email"`
	AdminID        *string  `json:"admin_id"`
	AttachmentURLs []string `json:"attachment_urls"`
	CreatedAt      *int64   `json:"created_at"`
}

func (s *Server) replyConversation(c *call, id string) {
	var req replyRequest
	if !c.decode(&req) {
		return
	}
	atts, err := attachments(req.AttachmentURLs)
	if err != nil {
		c.fail(http.StatusBadRequest, "parameter_invalid", err.Error())
		return
	}
	body := deref(req.Body)
	var at time.Time // zero: the time of the change
	if req.CreatedAt != nil {
		at = time.Unix(*req.CreatedAt, 0)
	}
	switch req.Type {
	case "user":
		s.contactReply(c, id, req, body, atts, at)
	case "admin":
		s.adminReply(c, id, req, body, atts, at)
	default:
		c.fail(http.StatusBadRequest, "parameter_invalid", "type must be user or admin")
	}
}

func (s *Server) contactReply(c *call, id string, req replyRequest, body string, atts []Attachment, at time.Time) {
	ids := 0
	for _, p := range []*string{req.IntercomUserID, req.UserID, req.Email} {
		if p != nil {
			ids++
		}
	}
	switch {
	case req.MessageType != "comment":
		c.fail(http.StatusBadRequest, "parameter_invalid", "message_type must be comment for a contact reply")
		return
	case req.Body == nil:
		c.fail(http.StatusBadRequest, "parameter_not_found", "body is required")
		return
	case strings.TrimSpace(body) == "" && len(atts) == 0:
		c.fail(http.StatusBadRequest, "parameter_invalid", "body is empty")
		return
	case ids != 1:
		c.fail(http.StatusBadRequest, "parameter_invalid", "exactly one of intercom_user_id, user_id or email is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ct *Contact
	switch {
	case req.IntercomUserID != nil:
		if o := s.contacts[*req.IntercomUserID]; o != nil && o.MergedInto == "" {
			ct = o
		}
	default:
		for _, cid := range s.contactOrder {
			o := s.contacts[cid]
			if o.MergedInto == "" && ((req.UserID != nil && *req.UserID != "" && o.ExternalID == *req.UserID) ||
				(req.Email != nil && *req.Email != "" && strings.EqualFold(o.Email, *req.Email))) {
				ct = o
				break
			}
		}
	}
	if ct == nil {
		c.fail(http.StatusNotFound, "not_found", "User Not Found")
		return
	}
	conv := s.conversations[id]
	if id == "last" {
		conv = s.lastConversationLocked(ct.ID)
	}
	if conv == nil {
		c.notFound()
		return
	}
	p := Part{PartType: "comment", Body: toHTML(body), Author: contactAuthor(ct), Attachments: atts,
		CreatedAt: at, AppPackageCode: appPackageCode}
	if conv.State == StateClosed {
		// Like the real API: a contact reply silently reopens a closed
		// conversation, and the part says so.
		p.PartType = "open"
	}
	conv.State = StateOpen
	conv.SnoozedUntil = time.Time{}
	conv.Read = false
	s.addPartLocked(conv, p)
	c.ok(s.wireConversation(conv, conv.Parts, htmlView))
}

func (s *Server) lastConversationLocked(contactID string) *Conversation {
	for i := len(s.convOrder) - 1; i >= 0; i-- {
		c := s.conversations[s.convOrder[i]]
		for _, id := range c.ContactIDs {
			if id == contactID {
				return c
			}
		}
	}
	return nil
}

func (s *Server) adminReply(c *call, id string, req replyRequest, body string, atts []Attachment, at time.Time) {
	switch {
	case req.AdminID == nil:
		c.fail(http.StatusBadRequest, "parameter_not_found", "admin_id is required")
		return
	case !isDigits(*req.AdminID):
		c.fail(http.StatusBadRequest, "parameter_invalid", "admin_id must be an admin id (digits)")
		return
	case req.MessageType != "comment" && req.MessageType != "note" && req.MessageType != "quick_reply":
		c.fail(http.StatusBadRequest, "parameter_invalid", "message_type must be comment, note or quick_reply")
		return
	case req.MessageType != "quick_reply" && strings.TrimSpace(body) == "" && len(atts) == 0:
		c.fail(http.StatusBadRequest, "parameter_not_found", "body is required for "+req.MessageType)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv := s.conversations[id]
	if conv == nil {
		c.notFound()
		return
	}
	s.addPartLocked(conv, Part{PartType: req.MessageType, Body: toHTML(body), Author: adminAuthor(*req.AdminID),
		Attachments: atts, CreatedAt: at, AppPackageCode: appPackageCode})
	c.ok(s.wireConversation(conv, conv.Parts, htmlView))
}

// ---- POST /conversations/{id}/parts ----

type manageRequest struct {
	MessageType  string  `json:"message_type"`
	Type         string  `json:"type"`
	AdminID      *string `json:"admin_id"`
	AssigneeID   *string `json:"assignee_id"`
	Body         *string `json:"body"`
	SnoozedUntil *int64  `json:"snoozed_until"`
}

func (s *Server) manageConversation(c *call, id string) {
	var req manageRequest
	if !c.decode(&req) {
		return
	}
	switch {
	case req.AdminID == nil:
		c.fail(http.StatusBadRequest, "parameter_not_found", "admin_id is required")
		return
	case !isDigits(*req.AdminID):
		c.fail(http.StatusBadRequest, "parameter_invalid", "admin_id must be an admin id (digits)")
		return
	}
	switch req.MessageType {
	case "close":
		if req.Type != "admin" {
			c.fail(http.StatusBadRequest, "parameter_invalid", "type must be admin to close a conversation")
			return
		}
	case "snoozed":
		if req.SnoozedUntil == nil || *req.SnoozedUntil <= time.Now().Unix() {
			c.fail(http.StatusBadRequest, "parameter_invalid", "snoozed_until must be a future UNIX timestamp")
			return
		}
	case "open":
	case "assignment":
		switch {
		case req.Type != "admin" && req.Type != "team":
			c.fail(http.StatusBadRequest, "parameter_invalid", "type must be admin or team for an assignment")
			return
		case req.AssigneeID == nil:
			c.fail(http.StatusBadRequest, "parameter_not_found", "assignee_id is required")
			return
		case !isDigits(*req.AssigneeID):
			c.fail(http.StatusBadRequest, "parameter_invalid", "assignee_id must be an admin or team id (digits)")
			return
		}
	default:
		c.fail(http.StatusBadRequest, "parameter_invalid", "message_type must be assignment, open, close or snoozed")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	conv := s.conversations[id]
	if conv == nil {
		c.notFound()
		return
	}
	p := Part{PartType: req.MessageType, Body: toHTML(deref(req.Body)), Author: adminAuthor(*req.AdminID),
		AppPackageCode: appPackageCode}
	switch req.MessageType {
	case "close":
		conv.State, conv.SnoozedUntil = StateClosed, time.Time{}
	case "snoozed":
		conv.State, conv.SnoozedUntil = StateSnoozed, time.Unix(*req.SnoozedUntil, 0)
	case "open":
		conv.State, conv.SnoozedUntil = StateOpen, time.Time{}
	case "assignment":
		assignee := *req.AssigneeID
		if assignee == "0" {
			assignee = ""
		}
		if req.Type == "admin" {
			conv.AdminAssigneeID = assignee
		} else {
			conv.TeamAssigneeID = assignee
		}
		if assignee != "" {
			p.AssignedTo = &Ref{Type: req.Type, ID: assignee}
		}
		if conv.State == StateClosed {
			p.PartType = "assign_and_reopen"
			conv.State = StateOpen
		}
	}
	s.addPartLocked(conv, p)
	c.ok(s.wireConversation(conv, conv.Parts, htmlView))
}

// ---- POST /conversations/{id}/tags ----

type tagRequest struct {
	ID      *string `json:"id"`
	AdminID *string `json:"admin_id"`
}

func (s *Server) tagConversation(c *call, id string) {
	var req tagRequest
	if !c.decode(&req) {
		return
	}
	switch {
	case req.ID == nil || *req.ID == "":
		c.fail(http.StatusBadRequest, "parameter_not_found", "id is required")
		return
	case req.AdminID == nil || *req.AdminID == "":
		c.fail(http.StatusBadRequest, "parameter_not_found", "admin_id is required")
		return
	case !isDigits(*req.AdminID):
		c.fail(http.StatusBadRequest, "parameter_invalid", "admin_id must be an admin id (digits)")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv := s.conversations[id]
	if conv == nil {
		c.fail(http.StatusNotFound, "not_found", "Conversation not found")
		return
	}
	tag := s.tags[*req.ID]
	if tag == nil {
		c.fail(http.StatusNotFound, "tag_not_found", "Tag not found")
		return
	}
	applied := Tag{ID: tag.ID, Name: tag.Name, AppliedBy: *req.AdminID}
	found := false
	for i, t := range conv.Tags {
		if t.ID == tag.ID {
			applied, found = conv.Tags[i], true
			break
		}
	}
	if !found {
		applied.AppliedAt = stampLocked(conv, time.Now())
		conv.Tags = append(conv.Tags, applied)
	}
	c.ok(s.wireTag(applied))
}
