package intercom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Contact is an Intercom contact (a user or a lead).
type Contact struct {
	ID         string // Intercom's id, 24 hex digits
	Role       string // "user" or "lead"
	Phone      string
	Name       string
	ExternalID string
	// Email is the contact's email address, "" when it has none.
	Email string
	// UpdatedAt is when the contact last changed (whole seconds, UTC),
	// zero if the answer did not say.
	UpdatedAt time.Time
}

// Conversation is an Intercom conversation, as returned by the REST API
// and carried in conversation.* webhook notifications.
type Conversation struct {
	ID    string
	State string // "open", "closed" or "snoozed"
	Open  bool
	// Source is the conversation's first message.
	Source Source
	// Contacts are the customers taking part (one, unless it is a group
	// conversation).
	Contacts []ContactRef
	// Parts are the conversation parts the answer carried, oldest first as
	// Intercom sends them. A REST answer holds at most the 500 most recent
	// parts; a webhook usually holds only the new ones.
	Parts []Part
	// AdminAssigneeID and TeamAssigneeID are empty when the conversation
	// is unassigned (Intercom sends 0 or null).
	AdminAssigneeID string
	TeamAssigneeID  string
	// CreatedAt and UpdatedAt are in whole seconds (UTC), zero if absent.
	// UpdatedAt is the time of the conversation's last change as of the
	// answer or notification that carried it: of two notifications about
	// one conversation, the one with the later UpdatedAt shows the later
	// State. Changes within one second can share an UpdatedAt.
	CreatedAt time.Time
	UpdatedAt time.Time
	// Tags are the tags applied to the conversation.
	Tags []Tag
}

// Tag is a tag applied to a conversation.
type Tag struct {
	ID   string
	Name string
	// AppliedAt is when the tag was applied, zero when the answer or
	// notification does not say.
	AppliedAt time.Time
}

// ContactRef is a reference to a contact within a conversation.
type ContactRef struct {
	Type       string // "contact"
	ID         string
	ExternalID string
}

// Source is the message that started a conversation.
type Source struct {
	Type        string // "conversation", "email", "sms", "whatsapp", ...
	ID          string
	DeliveredAs string // e.g. "customer_initiated", "admin_initiated"
	Body        string // HTML in REST answers, plain text in webhooks from 2.15
	Author      Author
	Attachments []Attachment
}

// Part is one conversation part: a message, a note, or an event such as
// an assignment or a state change.
type Part struct {
	ID string
	// PartType is Intercom's free-form part type: "comment", "note",
	// "open", "close", "assignment", "quick_reply", ...
	PartType string
	// Body is HTML in REST answers and plain text in webhook payloads
	// from API 2.15 on; empty for parts without a body.
	Body        string
	CreatedAt   time.Time
	Author      Author
	Attachments []Attachment
	// AppPackageCode names the app that created the part through the API;
	// empty for parts not created through the API.
	AppPackageCode string
}

// Author is who wrote a part or a source.
type Author struct {
	// Type is "admin", "bot", "user", "lead", "contact" or "team".
	Type  string
	ID    string
	Name  string
	Email string
}

// Attachment is a file attached to a part or a source.
type Attachment struct {
	Type        string // "upload"
	Name        string
	URL         string
	ContentType string
}

// ConversationMessage is what creating a conversation answers: the first
// message, which carries the id of the new conversation.
type ConversationMessage struct {
	Type           string // e.g. "user_message"
	ID             string // the message id, not the conversation id
	ConversationID string
	Body           string
	CreatedAt      time.Time
}

// flexString decodes a JSON string, number or null into a string: Intercom
// sends some ids as numbers, others as strings, depending on the endpoint
// and the version.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("id: want a string or a number, got %s", jsonKind(b))
		}
		*f = flexString(n.String())
	}
	return nil
}

// jsonKind describes a JSON value by its kind alone, for error messages
// that must not quote what an answer or a webhook carried.
func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number out of range"
}

// assigneeID maps Intercom's "unassigned" (0, "0" or null) to "".
func (f flexString) assigneeID() string {
	if f == "0" {
		return ""
	}
	return string(f)
}

// unixTime decodes a UNIX time in seconds, sent as a number, a numeric
// string or null, into a time.Time (zero for null or 0).
type unixTime time.Time

func (u *unixTime) UnmarshalJSON(b []byte) error {
	var f flexString
	if err := f.UnmarshalJSON(b); err != nil {
		return fmt.Errorf("timestamp: want UNIX seconds (a number or a numeric string), got %s", jsonKind(b))
	}
	if f == "" {
		*u = unixTime{}
		return nil
	}
	secs, err := strconv.ParseFloat(string(f), 64)
	if err != nil || secs < 0 || secs > 1<<40 {
		return fmt.Errorf("timestamp: want UNIX seconds (a number or a numeric string), got %s", jsonKind(b))
	}
	if secs == 0 {
		*u = unixTime{}
		return nil
	}
	whole := int64(secs)
	*u = unixTime(time.Unix(whole, int64((secs-float64(whole))*1e9)).UTC())
	return nil
}

func (u unixTime) time() time.Time { return time.Time(u) }

// Wire formats, following the 2.16 schemas. Only the fields the package
// exposes are decoded.

type wireContact struct {
	Type       string     `json:"type"`
	ID         flexString `json:"id"`
	Role       string     `json:"role"`
	Phone      *string    `json:"phone"`
	Name       *string    `json:"name"`
	ExternalID flexString `json:"external_id"`
	Email      *string    `json:"email"`
	UpdatedAt  unixTime   `json:"updated_at"`
}

func (w wireContact) contact() Contact {
	c := Contact{ID: string(w.ID), Role: w.Role, ExternalID: string(w.ExternalID), UpdatedAt: w.UpdatedAt.time()}
	if w.Email != nil {
		c.Email = *w.Email
	}
	if w.Phone != nil {
		c.Phone = *w.Phone
	}
	if w.Name != nil {
		c.Name = *w.Name
	}
	return c
}

type wireContactList struct {
	Type string        `json:"type"`
	Data []wireContact `json:"data"`
}

type wireAuthor struct {
	Type  string     `json:"type"`
	ID    flexString `json:"id"`
	Name  *string    `json:"name"`
	Email *string    `json:"email"`
}

func (w wireAuthor) author() Author {
	a := Author{Type: w.Type, ID: string(w.ID)}
	if w.Name != nil {
		a.Name = *w.Name
	}
	if w.Email != nil {
		a.Email = *w.Email
	}
	return a
}

type wireAttachment struct {
	Type        string  `json:"type"`
	Name        *string `json:"name"`
	URL         *string `json:"url"`
	ContentType *string `json:"content_type"`
}

func attachments(ws []wireAttachment) []Attachment {
	if len(ws) == 0 {
		return nil
	}
	out := make([]Attachment, 0, len(ws))
	for _, w := range ws {
		a := Attachment{Type: w.Type}
		if w.Name != nil {
			a.Name = *w.Name
		}
		if w.URL != nil {
			a.URL = *w.URL
		}
		if w.ContentType != nil {
			a.ContentType = *w.ContentType
		}
		out = append(out, a)
	}
	return out
}

type wireSource struct {
	Type        string           `json:"type"`
	ID          flexString       `json:"id"`
	DeliveredAs *string          `json:"delivered_as"`
	Body        *string          `json:"body"`
	Author      *wireAuthor      `json:"author"`
	Attachments []wireAttachment `json:"attachments"`
}

type wirePart struct {
	Type           string           `json:"type"`
	ID             flexString       `json:"id"`
	PartType       string           `json:"part_type"`
	Body           *string          `json:"body"`
	CreatedAt      unixTime         `json:"created_at"`
	Author         *wireAuthor      `json:"author"`
	Attachments    []wireAttachment `json:"attachments"`
	AppPackageCode *string          `json:"app_package_code"`
}

type wireConversation struct {
	Type     string      `json:"type"`
	ID       flexString  `json:"id"`
	State    string      `json:"state"`
	Open     *bool       `json:"open"`
	Source   *wireSource `json:"source"`
	Contacts *struct {
		Contacts []struct {
			Type       string     `json:"type"`
			ID         flexString `json:"id"`
			ExternalID flexString `json:"external_id"`
		} `json:"contacts"`
	} `json:"contacts"`
	Parts *struct {
		Parts []wirePart `json:"conversation_parts"`
	} `json:"conversation_parts"`
	AdminAssigneeID flexString `json:"admin_assignee_id"`
	TeamAssigneeID  flexString `json:"team_assignee_id"`
	CreatedAt       unixTime   `json:"created_at"`
	UpdatedAt       unixTime   `json:"updated_at"`
	Tags            *struct {
		Tags []struct {
			ID        flexString `json:"id"`
			Name      string     `json:"name"`
			AppliedAt unixTime   `json:"applied_at"`
		} `json:"tags"`
	} `json:"tags"`
}

func (w *wireConversation) conversation() *Conversation {
	c := &Conversation{
		ID:              string(w.ID),
		State:           w.State,
		AdminAssigneeID: w.AdminAssigneeID.assigneeID(),
		TeamAssigneeID:  w.TeamAssigneeID.assigneeID(),
		CreatedAt:       w.CreatedAt.time(),
		UpdatedAt:       w.UpdatedAt.time(),
	}
	if w.Open != nil {
		c.Open = *w.Open
	} else {
		c.Open = w.State == "open"
	}
	if s := w.Source; s != nil {
		c.Source = Source{Type: s.Type, ID: string(s.ID), Attachments: attachments(s.Attachments)}
		if s.DeliveredAs != nil {
			c.Source.DeliveredAs = *s.DeliveredAs
		}
		if s.Body != nil {
			c.Source.Body = *s.Body
		}
		if s.Author != nil {
			c.Source.Author = s.Author.author()
		}
	}
	if w.Contacts != nil {
		for _, r := range w.Contacts.Contacts {
			c.Contacts = append(c.Contacts, ContactRef{Type: r.Type, ID: string(r.ID), ExternalID: string(r.ExternalID)})
		}
	}
	if w.Tags != nil {
		for _, t := range w.Tags.Tags {
			c.Tags = append(c.Tags, Tag{ID: string(t.ID), Name: t.Name, AppliedAt: t.AppliedAt.time()})
		}
	}
	if w.Parts != nil {
		for _, p := range w.Parts.Parts {
			part := Part{ID: string(p.ID), PartType: p.PartType, CreatedAt: p.CreatedAt.time(), Attachments: attachments(p.Attachments)}
			if p.Body != nil {
				part.Body = *p.Body
			}
			if p.Author != nil {
				part.Author = p.Author.author()
			}
			if p.AppPackageCode != nil {
				part.AppPackageCode = *p.AppPackageCode
			}
			c.Parts = append(c.Parts, part)
		}
	}
	return c
}

type wireMessage struct {
	Type           string     `json:"type"`
	ID             flexString `json:"id"`
	CreatedAt      unixTime   `json:"created_at"`
	Body           *string    `json:"body"`
	ConversationID flexString `json:"conversation_id"`
}

// wireConversationList is the answer of a conversation search: schema
// conversation_list.
type wireConversationList struct {
	Type          string             `json:"type"`
	Conversations []wireConversation `json:"conversations"`
	TotalCount    *int               `json:"total_count"`
	Pages         *struct {
		Next *struct {
			StartingAfter *string `json:"starting_after"`
		} `json:"next"`
	} `json:"pages"`
}
