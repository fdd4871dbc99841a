package intercom

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
)

// This file updates contacts: their custom attributes (PUT
// /contacts/{id}) and their tags (POST /contacts/{id}/tags, DELETE
// /contacts/{id}/tags/{tag_id}, and POST /tags to find a tag's id by its
// name).

// ContactUpdate is a change to a contact ([Client.UpdateContact]). Only
// the fields set are sent; Intercom leaves the others as they are.
type ContactUpdate struct {
	// CustomAttributes sets custom data attributes by name. Each must
	// exist in the workspace as a contact data attribute (Settings > Data
	// > People, or POST /data_attributes) before it can be set: Intercom
	// refuses a name it does not know. Values must fit the attribute's
	// type: a bool for a boolean attribute, a string for a text one, a
	// number for a number one, and Unix seconds for a date one (see
	// [UnixSeconds]). A nil value clears the attribute.
	CustomAttributes map[string]any
}

// updateContactRequest follows the spec's update_contact_request.
type updateContactRequest struct {
	CustomAttributes map[string]any `json:"custom_attributes,omitempty"`
}

// UnixSeconds is t as Intercom takes a date custom attribute: whole Unix
// seconds.
func UnixSeconds(t time.Time) int64 { return t.Unix() }

// maxAttributeName bounds the name of a custom attribute the client sends.
const maxAttributeName = 190

// ValidAttributeName reports whether name can name a custom data attribute
// in a request: not empty, without surrounding spaces, control characters
// or dots (Intercom addresses an attribute as "custom_attributes.<name>"),
// at most 190 bytes. It does not say whether the workspace has it.
func ValidAttributeName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("empty attribute name")
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("attribute name %q has surrounding spaces", name)
	case len(name) > maxAttributeName:
		return fmt.Errorf("attribute name is %d bytes long, more than %d", len(name), maxAttributeName)
	case strings.Contains(name, "."):
		return fmt.Errorf("attribute name %q contains a dot", name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("attribute name %q contains a control character", name)
	}
	return nil
}

// UpdateContact changes a contact (PUT /contacts/{id}) and returns it as
// Intercom answers. A contact merged into another answers 410 Gone with a
// Link to the canonical contact; UpdateContact follows it once and
// updates the canonical contact, whose ID then differs from id.
//
// Intercom refuses a custom attribute the workspace does not have (an
// error with a 4xx status, matching neither [ErrNotFound] nor [ErrGone]):
// create the data attribute first.
func (c *Client) UpdateContact(ctx context.Context, id string, u ContactUpdate) (*Contact, error) {
	p, err := pathID("contact id", id)
	if err != nil {
		return nil, fmt.Errorf("intercom: UpdateContact: %w", err)
	}
	if len(u.CustomAttributes) == 0 {
		return nil, errors.New("intercom: UpdateContact: nothing to update")
	}
	for name := range u.CustomAttributes {
		if err := ValidAttributeName(name); err != nil {
			return nil, fmt.Errorf("intercom: UpdateContact: %w", err)
		}
	}
	req := updateContactRequest(u)
	var out wireContact
	hdr, err := c.do(ctx, call{method: http.MethodPut, path: "/contacts/" + p, in: req, out: &out})
	if err != nil {
		canonical, ok := mergedInto(hdr, err, id)
		if !ok {
			return nil, err
		}
		c.log.DebugContext(ctx, "intercom: contact merged, updating the canonical one", "contact_id", id, "canonical_id", canonical)
		out = wireContact{}
		if _, err := c.do(withoutAdmission(ctx), call{method: http.MethodPut, path: "/contacts/" + canonical, in: req, out: &out}); err != nil {
			return nil, fmt.Errorf("intercom: UpdateContact: %s was merged into %s: %w", id, canonical, err)
		}
	}
	ct := out.contact()
	if ct.ID == "" {
		return nil, fmt.Errorf("intercom: PUT /contacts/%s: answer carries no contact id", p)
	}
	return &ct, nil
}

// mergedInto returns the escaped path id of the canonical contact when err
// is a 410 Gone whose Link names one other than id.
func mergedInto(hdr http.Header, err error, id string) (string, bool) {
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusGone {
		return "", false
	}
	canonical, ok := canonicalContact(hdr)
	if !ok || canonical == id {
		return "", false
	}
	cp, perr := pathID("contact id", canonical)
	if perr != nil {
		return "", false
	}
	return cp, true
}

// contactTagRequest follows the spec's attachTagToContact request body.
type contactTagRequest struct {
	ID string `json:"id"`
}

// wireTag is a tag as the tag endpoints answer it (schema tag).
type wireTag struct {
	Type      string     `json:"type"`
	ID        flexString `json:"id"`
	Name      string     `json:"name"`
	AppliedAt unixTime   `json:"applied_at"`
}

func (w wireTag) tag() Tag {
	return Tag{ID: string(w.ID), Name: w.Name, AppliedAt: w.AppliedAt.time()}
}

// TagContact applies an existing tag to a contact (POST
// /contacts/{id}/tags). Applying a tag the contact has already is not an
// error. An unknown contact or tag answers an error matching
// [ErrNotFound]; a merged contact's 410 is followed once, as
// [Client.UpdateContact] does.
func (c *Client) TagContact(ctx context.Context, contactID, tagID string) error {
	p, err := pathID("contact id", contactID)
	if err != nil {
		return fmt.Errorf("intercom: TagContact: %w", err)
	}
	if strings.TrimSpace(tagID) == "" {
		return errors.New("intercom: TagContact: empty tag id")
	}
	k := call{method: http.MethodPost, path: "/contacts/" + p + "/tags", in: contactTagRequest{ID: tagID}, out: &wireTag{}}
	hdr, err := c.do(ctx, k)
	if err != nil {
		canonical, ok := mergedInto(hdr, err, contactID)
		if !ok {
			return err
		}
		k.path = "/contacts/" + canonical + "/tags"
		if _, err := c.do(withoutAdmission(ctx), k); err != nil {
			return fmt.Errorf("intercom: TagContact: %s was merged into %s: %w", contactID, canonical, err)
		}
	}
	return nil
}

// UntagContact removes a tag from a contact (DELETE
// /contacts/{id}/tags/{tag_id}). An unknown contact or tag answers an
// error matching [ErrNotFound]; a merged contact's 410 is followed once.
func (c *Client) UntagContact(ctx context.Context, contactID, tagID string) error {
	p, err := pathID("contact id", contactID)
	if err != nil {
		return fmt.Errorf("intercom: UntagContact: %w", err)
	}
	tp, err := pathID("tag id", tagID)
	if err != nil {
		return fmt.Errorf("intercom: UntagContact: %w", err)
	}
	k := call{method: http.MethodDelete, path: "/contacts/" + p + "/tags/" + tp, out: &wireTag{}}
	hdr, err := c.do(ctx, k)
	if err != nil {
		canonical, ok := mergedInto(hdr, err, contactID)
		if !ok {
			return err
		}
		k.path = "/contacts/" + canonical + "/tags/" + tp
		if _, err := c.do(withoutAdmission(ctx), k); err != nil {
			return fmt.Errorf("intercom: UntagContact: %s was merged into %s: %w", contactID, canonical, err)
		}
	}
	return nil
}

// createTagRequest follows the spec's create_or_update_tag_request.
type createTagRequest struct {
	Name string `json:"name"`
}

// maxTagName bounds a tag name the client sends.
const maxTagName = 190

// CreateTag returns the workspace's tag called name, creating it when
// there is none (POST /tags; names are case-insensitive, so "VIP" finds
// "vip"). Calling it again is harmless: it answers the same tag.
func (c *Client) CreateTag(ctx context.Context, name string) (*Tag, error) {
	switch {
	case strings.TrimSpace(name) == "":
		return nil, errors.New("intercom: CreateTag: empty name")
	case len(name) > maxTagName:
		return nil, fmt.Errorf("intercom: CreateTag: name is %d bytes long, more than %d", len(name), maxTagName)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return nil, errors.New("intercom: CreateTag: name contains a control character")
	}
	var out wireTag
	if _, err := c.do(ctx, call{method: http.MethodPost, path: "/tags", in: createTagRequest{Name: name}, out: &out}); err != nil {
		return nil, err
	}
	t := out.tag()
	if t.ID == "" {
		return nil, errors.New("intercom: POST /tags: answer carries no tag id")
	}
	return &t, nil
}
