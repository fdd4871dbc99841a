package intercomtest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Contact is a contact (user or lead) held by the server.
type Contact struct {
	ID         string
	Role       string // "user" or "lead"
	Phone      string
	Name       string
	Email      string
	ExternalID string
	CreatedAt  time.Time
	// UpdatedAt is the contact's updated_at; zero means CreatedAt. A merge
	// sets the target's to the time of the merge.
	UpdatedAt time.Time
	// MergedInto is the id of the contact this one was merged into, or "".
	MergedInto string
}

// Conversation is a conversation held by the server.
type Conversation struct {
	ID    string
	State string // "open", "closed" or "snoozed"
	Read  bool
	// ContactIDs are the conversation's contacts.
	ContactIDs []string
	// Source is the message that started the conversation.
	Source Source
	// Parts are the conversation parts, oldest first.
	Parts []Part
	// AdminAssigneeID and TeamAssigneeID are "" when unassigned.
	AdminAssigneeID string
	TeamAssigneeID  string
	Tags            []Tag
	SnoozedUntil    time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Open reports whether the conversation is not closed (snoozed counts as
// open, like the API's "open" field).
func (c Conversation) Open() bool { return c.State != StateClosed }

// Conversation states.
const (
	StateOpen    = "open"
	StateClosed  = "closed"
	StateSnoozed = "snoozed"
)

// Source is the message that started a conversation.
type Source struct {
	Type        string
	ID          string
	DeliveredAs string
	Subject     string
	// Body is HTML, as the REST API shows it.
	Body        string
	Author      Author
	Attachments []Attachment
}

// Part is one conversation part.
type Part struct {
	ID       string
	PartType string // "comment", "note", "open", "close", "assignment", ...
	// Body is HTML, as the REST API shows it; webhooks carry it as plain
	// text. "" means no body (null).
	Body        string
	Author      Author
	Attachments []Attachment
	// AssignedTo is set on assignment parts.
	AssignedTo *Ref
	CreatedAt  time.Time
	// AppPackageCode is set on parts created through the REST API, "" on
	// parts made by the agent helpers (as if typed in the Intercom inbox).
	AppPackageCode string
}

// Author is the author of a part or source.
type Author struct {
	Type  string // "admin", "bot", "user", "lead", "team"
	ID    string
	Name  string
	Email string
	// FromAIAgent is set on bot parts written by Fin.
	FromAIAgent bool
}

// Attachment is a file attached to a part.
type Attachment struct {
	Type        string
	Name        string
	URL         string
	ContentType string
}

// Ref is a reference to an admin, team or contact.
type Ref struct {
	Type string
	ID   string
}

// Tag is a tag, and when read from a conversation, its application.
type Tag struct {
	ID        string
	Name      string
	AppliedAt time.Time
	// AppliedBy is the admin id that applied the tag to the conversation.
	AppliedBy string
}

func (c *Conversation) clone() Conversation {
	out := *c
	out.ContactIDs = slices.Clone(c.ContactIDs)
	out.Source.Attachments = slices.Clone(c.Source.Attachments)
	out.Tags = slices.Clone(c.Tags)
	out.Parts = make([]Part, len(c.Parts))
	for i, p := range c.Parts {
		out.Parts[i] = p.clone()
	}
	return out
}

func (p Part) clone() Part {
	p.Attachments = slices.Clone(p.Attachments)
	if p.AssignedTo != nil {
		r := *p.AssignedTo
		p.AssignedTo = &r
	}
	return p
}

// ---- wire shapes (Intercom API 2.16) ----

type wireError struct {
	Type      string          `json:"type"`
	RequestID string          `json:"request_id"`
	Errors    []wireErrorItem `json:"errors"`
}

type wireErrorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "intercomtest: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, reqID, code, msg string) {
	writeJSON(w, status, wireError{
		Type:      "error.list",
		RequestID: reqID,
		Errors:    []wireErrorItem{{Code: code, Message: msg}},
	})
}

type wireList struct {
	Type       string `json:"type"`
	Data       []any  `json:"data"`
	URL        string `json:"url,omitempty"`
	TotalCount *int   `json:"total_count,omitempty"`
	HasMore    *bool  `json:"has_more,omitempty"`
}

func emptyList(url string) wireList {
	zero, no := 0, false
	return wireList{Type: "list", Data: []any{}, URL: url, TotalCount: &zero, HasMore: &no}
}

type wireLocation struct {
	Type        string  `json:"type"`
	Country     *string `json:"country"`
	Region      *string `json:"region"`
	City        *string `json:"city"`
	CountryCode *string `json:"country_code"`
}

type wireContact struct {
	Type                   string         `json:"type"`
	ID                     string         `json:"id"`
	WorkspaceID            string         `json:"workspace_id"`
	ExternalID             *string        `json:"external_id"`
	Role                   string         `json:"role"`
	Email                  string         `json:"email"`
	Phone                  *string        `json:"phone"`
	Name                   *string        `json:"name"`
	Avatar                 *struct{}      `json:"avatar"`
	OwnerID                *string        `json:"owner_id"`
	SocialProfiles         wireList       `json:"social_profiles"`
	HasHardBounced         bool           `json:"has_hard_bounced"`
	MarkedEmailAsSpam      bool           `json:"marked_email_as_spam"`
	UnsubscribedFromEmails bool           `json:"unsubscribed_from_emails"`
	CreatedAt              int64          `json:"created_at"`
	UpdatedAt              int64          `json:"updated_at"`
	SignedUpAt             *int64         `json:"signed_up_at"`
	LastSeenAt             *int64         `json:"last_seen_at"`
	LastRepliedAt          *int64         `json:"last_replied_at"`
	LastContactedAt        *int64         `json:"last_contacted_at"`
	LastEmailOpenedAt      *int64         `json:"last_email_opened_at"`
	LastEmailClickedAt     *int64         `json:"last_email_clicked_at"`
	LanguageOverride       *string        `json:"language_override"`
	Browser                *string        `json:"browser"`
	OS                     *string        `json:"os"`
	Location               wireLocation   `json:"location"`
	CustomAttributes       map[string]any `json:"custom_attributes"`
	Tags                   wireList       `json:"tags"`
	Notes                  wireList       `json:"notes"`
	Companies              wireList       `json:"companies"`
}

func strOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// updatedAt is the contact's updated_at: UpdatedAt, or CreatedAt when not
// set.
func (c *Contact) updatedAt() time.Time {
	if c.UpdatedAt.IsZero() {
		return c.CreatedAt
	}
	return c.UpdatedAt
}

func (s *Server) wireContact(c *Contact) wireContact {
	return wireContact{
		Type:             "contact",
		ID:               c.ID,
		WorkspaceID:      s.AppID,
		ExternalID:       strOrNull(c.ExternalID),
		Role:             c.Role,
		Email:            c.Email,
		Phone:            strOrNull(c.Phone),
		Name:             strOrNull(c.Name),
		SocialProfiles:   wireList{Type: "list", Data: []any{}},
		CreatedAt:        c.CreatedAt.Unix(),
		UpdatedAt:        c.updatedAt().Unix(),
		Location:         wireLocation{Type: "location"},
		CustomAttributes: s.contactAttributesLocked(c.ID),
		Tags:             s.contactTagListLocked(c.ID),
		Notes:            emptyList("/contacts/" + c.ID + "/notes"),
		Companies:        emptyList("/contacts/" + c.ID + "/companies"),
	}
}

type wireAuthor struct {
	Type        string  `json:"type"`
	ID          string  `json:"id"`
	Name        *string `json:"name"`
	Email       string  `json:"email,omitempty"`
	FromAIAgent bool    `json:"from_ai_agent"`
	IsAIAnswer  bool    `json:"is_ai_answer"`
}

func toWireAuthor(a Author) wireAuthor {
	return wireAuthor{Type: a.Type, ID: a.ID, Name: strOrNull(a.Name), Email: a.Email,
		FromAIAgent: a.FromAIAgent, IsAIAnswer: a.FromAIAgent}
}

type wireSourceAuthor struct {
	Type  string  `json:"type"`
	ID    *string `json:"id"`
	Name  *string `json:"name"`
	Email *string `json:"email"`
}

type wireAttachment struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
}

func toWireAttachments(as []Attachment) []wireAttachment {
	out := make([]wireAttachment, 0, len(as))
	for _, a := range as {
		out = append(out, wireAttachment(a))
	}
	return out
}

type wireSource struct {
	Type        string           `json:"type"`
	ID          string           `json:"id"`
	DeliveredAs string           `json:"delivered_as"`
	Subject     string           `json:"subject"`
	Body        string           `json:"body"`
	Author      wireSourceAuthor `json:"author"`
	Attachments []wireAttachment `json:"attachments"`
	URL         *string          `json:"url"`
	Redacted    bool             `json:"redacted"`
}

type wireRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type wirePart struct {
	Type                 string           `json:"type"`
	ID                   string           `json:"id"`
	PartType             string           `json:"part_type"`
	Body                 *string          `json:"body"`
	CreatedAt            int64            `json:"created_at"`
	UpdatedAt            int64            `json:"updated_at"`
	NotifiedAt           int64            `json:"notified_at"`
	AssignedTo           *wireRef         `json:"assigned_to"`
	Author               wireAuthor       `json:"author"`
	Attachments          []wireAttachment `json:"attachments"`
	ExternalID           *string          `json:"external_id"`
	Redacted             bool             `json:"redacted"`
	Metadata             map[string]any   `json:"metadata"`
	EmailMessageMetadata *struct{}        `json:"email_message_metadata"`
	AppPackageCode       *string          `json:"app_package_code"`
}

type wireParts struct {
	Type       string     `json:"type"`
	Parts      []wirePart `json:"conversation_parts"`
	TotalCount int        `json:"total_count"`
}

type wireContactRef struct {
	Type       string  `json:"type"`
	ID         string  `json:"id"`
	ExternalID *string `json:"external_id"`
}

type wireContactRefs struct {
	Type     string           `json:"type"`
	Contacts []wireContactRef `json:"contacts"`
}

type wireTag struct {
	Type      string   `json:"type"`
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	AppliedAt *int64   `json:"applied_at"`
	AppliedBy *wireRef `json:"applied_by"`
}

type wireTags struct {
	Type string    `json:"type"`
	Tags []wireTag `json:"tags"`
}

type wireLinked struct {
	Type       string `json:"type"`
	Data       []any  `json:"data"`
	TotalCount int    `json:"total_count"`
	HasMore    bool   `json:"has_more"`
}

type wireConversation struct {
	Type                string          `json:"type"`
	ID                  string          `json:"id"`
	CreatedAt           int64           `json:"created_at"`
	UpdatedAt           int64           `json:"updated_at"`
	WaitingSince        *int64          `json:"waiting_since"`
	SnoozedUntil        *int64          `json:"snoozed_until"`
	Source              wireSource      `json:"source"`
	Contacts            wireContactRefs `json:"contacts"`
	FirstContactReply   *struct{}       `json:"first_contact_reply"`
	AdminAssigneeID     json.Number     `json:"admin_assignee_id"`
	TeamAssigneeID      json.Number     `json:"team_assignee_id"`
	Open                bool            `json:"open"`
	State               string          `json:"state"`
	Read                bool            `json:"read"`
	Tags                wireTags        `json:"tags"`
	Priority            string          `json:"priority"`
	SLAApplied          *struct{}       `json:"sla_applied"`
	Statistics          *struct{}       `json:"statistics"`
	ConversationRating  *struct{}       `json:"conversation_rating"`
	Teammates           *struct{}       `json:"teammates"`
	Title               *string         `json:"title"`
	CustomAttributes    map[string]any  `json:"custom_attributes"`
	Topics              map[string]any  `json:"topics"`
	Ticket              *struct{}       `json:"ticket"`
	LinkedObjects       wireLinked      `json:"linked_objects"`
	AIAgent             *struct{}       `json:"ai_agent"`
	AIAgentParticipated bool            `json:"ai_agent_participated"`
	// Parts is nil in search results: a conversation_list_item has none.
	Parts *wireParts `json:"conversation_parts,omitempty"`
}

func unix(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	u := t.Unix()
	return &u
}

func idNumber(id string) json.Number {
	if id == "" {
		return "0"
	}
	return json.Number(id)
}

// bodyView turns a stored HTML body into what a view shows: HTML for REST,
// plain text for webhooks (API 2.15+) and display_as=plaintext.
type bodyView func(html string) string

func htmlView(s string) string { return s }

// wireConversation renders c with the given parts, bodies through view.
// contacts supplies the external ids of c's contacts.
func (s *Server) wireConversation(c *Conversation, parts []Part, view bodyView) wireConversation {
	src := c.Source
	w := wireConversation{
		Type:         "conversation",
		ID:           c.ID,
		CreatedAt:    c.CreatedAt.Unix(),
		UpdatedAt:    c.UpdatedAt.Unix(),
		SnoozedUntil: unix(c.SnoozedUntil),
		Source: wireSource{
			Type:        src.Type,
			ID:          src.ID,
			DeliveredAs: src.DeliveredAs,
			Subject:     src.Subject,
			Body:        view(src.Body),
			Author: wireSourceAuthor{Type: src.Author.Type, ID: strOrNull(src.Author.ID),
				Name: strOrNull(src.Author.Name), Email: strOrNull(src.Author.Email)},
			Attachments: toWireAttachments(src.Attachments),
		},
		Contacts:         wireContactRefs{Type: "contact.list", Contacts: []wireContactRef{}},
		AdminAssigneeID:  idNumber(c.AdminAssigneeID),
		TeamAssigneeID:   idNumber(c.TeamAssigneeID),
		Open:             c.Open(),
		State:            c.State,
		Read:             c.Read,
		Tags:             wireTags{Type: "tag.list", Tags: []wireTag{}},
		Priority:         "none",
		CustomAttributes: map[string]any{},
		Topics:           map[string]any{},
		LinkedObjects:    wireLinked{Type: "list", Data: []any{}},
		Parts:            &wireParts{Type: "conversation_part.list", Parts: []wirePart{}, TotalCount: len(parts)},
	}
	if c.State == StateOpen {
		w.WaitingSince = unix(c.waitingSince())
	}
	for _, id := range c.ContactIDs {
		ref := wireContactRef{Type: "contact", ID: id}
		if ct := s.contacts[id]; ct != nil {
			ref.ExternalID = strOrNull(ct.ExternalID)
		}
		w.Contacts.Contacts = append(w.Contacts.Contacts, ref)
	}
	for _, t := range c.Tags {
		w.Tags.Tags = append(w.Tags.Tags, s.wireTag(t))
	}
	for _, p := range parts {
		w.Parts.Parts = append(w.Parts.Parts, wirePartOf(p, view))
	}
	return w
}

// waitingSince is the time of the last customer message not yet answered by
// an admin, or zero.
func (c *Conversation) waitingSince() time.Time {
	var since time.Time
	for _, p := range c.Parts {
		switch p.Author.Type {
		case "user", "lead", "contact":
			if since.IsZero() && p.PartType != "note" {
				since = p.CreatedAt
			}
		case "admin", "bot":
			if p.PartType == "comment" {
				since = time.Time{}
			}
		}
	}
	return since
}

func wirePartOf(p Part, view bodyView) wirePart {
	w := wirePart{
		Type:        "conversation_part",
		ID:          p.ID,
		PartType:    p.PartType,
		CreatedAt:   p.CreatedAt.Unix(),
		UpdatedAt:   p.CreatedAt.Unix(),
		NotifiedAt:  p.CreatedAt.Unix(),
		Author:      toWireAuthor(p.Author),
		Attachments: toWireAttachments(p.Attachments),
		Metadata:    map[string]any{},
	}
	if p.Body != "" {
		b := view(p.Body)
		w.Body = &b
	}
	if p.AssignedTo != nil {
		w.AssignedTo = &wireRef{Type: p.AssignedTo.Type, ID: p.AssignedTo.ID}
	}
	w.AppPackageCode = strOrNull(p.AppPackageCode)
	return w
}

func (s *Server) wireTag(t Tag) wireTag {
	w := wireTag{Type: "tag", ID: t.ID, Name: t.Name, AppliedAt: unix(t.AppliedAt)}
	if t.AppliedBy != "" {
		w.AppliedBy = &wireRef{Type: "admin", ID: t.AppliedBy}
	}
	return w
}

// isDigits reports whether s is a non-empty run of ASCII digits, the shape
// of Intercom admin, team and conversation ids.
func isDigits(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}
