package intercomtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file serves contact updates: PUT /contacts/{id} with custom
// attributes, POST /contacts/{id}/tags, DELETE /contacts/{id}/tags/{tag_id}
// and POST /tags, and keeps the workspace's contact data attributes.

// Data attribute types ([DataAttribute].Type), as create_data_attribute_request
// names them.
const (
	AttributeString   = "string"
	AttributeInteger  = "integer"
	AttributeFloat    = "float"
	AttributeBoolean  = "boolean"
	AttributeDate     = "date"
	AttributeDatetime = "datetime"
)

// DataAttribute is a custom contact data attribute of the workspace. A
// custom attribute can be set on a contact only once the workspace has it,
// as in Intercom, where it is created in Settings > Data > People or with
// POST /data_attributes.
type DataAttribute struct {
	// Name is the attribute's name, as custom_attributes keys it.
	Name string
	// Type is one of AttributeString, AttributeInteger, AttributeFloat,
	// AttributeBoolean, AttributeDate and AttributeDatetime. Dates take
	// Unix seconds.
	Type string
}

func (a DataAttribute) check() error {
	if strings.TrimSpace(a.Name) == "" || strings.Contains(a.Name, ".") {
		return fmt.Errorf("data attribute name %q is empty or has a dot", a.Name)
	}
	switch a.Type {
	case AttributeString, AttributeInteger, AttributeFloat, AttributeBoolean, AttributeDate, AttributeDatetime:
		return nil
	}
	return fmt.Errorf("data attribute %q: type %q is not one of string, integer, float, boolean, date, datetime", a.Name, a.Type)
}

// WithDataAttributes declares custom contact data attributes the workspace
// has from the start; see [Server.AddDataAttribute].
func WithDataAttributes(attrs ...DataAttribute) Option {
	return func(c *config) error {
		for _, a := range attrs {
			if err := a.check(); err != nil {
				return fmt.Errorf("intercomtest: WithDataAttributes: %w", err)
			}
		}
		c.dataAttributes = append(c.dataAttributes, attrs...)
		return nil
	}
}

// AddDataAttribute declares a custom contact data attribute, as creating
// it in Intercom's settings does. PUT /contacts/{id} refuses a custom
// attribute the workspace does not have, and a value that does not fit
// its type, with 400 parameter_invalid.
func (s *Server) AddDataAttribute(a DataAttribute) error {
	if err := a.check(); err != nil {
		return fmt.Errorf("intercomtest: AddDataAttribute: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initContactDataLocked()
	if old, ok := s.attrDefs[a.Name]; ok && old.Type != a.Type {
		return fmt.Errorf("intercomtest: AddDataAttribute: %q exists with type %s", a.Name, old.Type)
	}
	s.attrDefs[a.Name] = a
	return nil
}

// initContactDataLocked makes the maps of this file on first use.
func (s *Server) initContactDataLocked() {
	if s.attrDefs != nil {
		return
	}
	s.attrDefs = make(map[string]DataAttribute)
	for _, a := range s.cfg.dataAttributes {
		s.attrDefs[a.Name] = a
	}
	s.contactAttrs = make(map[string]map[string]any)
	s.contactTags = make(map[string][]Tag)
}

// ContactAttributes returns a copy of the custom attributes set on contact
// id: booleans as bool, strings as string, numbers and dates (Unix
// seconds) as json.Number.
func (s *Server) ContactAttributes(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initContactDataLocked()
	return maps.Clone(s.contactAttrs[id])
}

// ContactTags returns the tags applied to contact id, with when and by
// whom, in the order they were applied.
func (s *Server) ContactTags(id string) []Tag {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initContactDataLocked()
	return slices.Clone(s.contactTags[id])
}

// contactAttributesLocked renders contact id's custom attributes.
func (s *Server) contactAttributesLocked(id string) map[string]any {
	s.initContactDataLocked()
	out := maps.Clone(s.contactAttrs[id])
	if out == nil {
		out = map[string]any{}
	}
	return out
}

// contactTagListLocked renders contact id's tags as a contact_tags list.
func (s *Server) contactTagListLocked(id string) wireList {
	s.initContactDataLocked()
	l := emptyList("/contacts/" + id + "/tags")
	for _, t := range s.contactTags[id] {
		l.Data = append(l.Data, map[string]any{"type": "tag", "id": t.ID, "url": "/tags/" + t.ID})
	}
	n := len(l.Data)
	l.TotalCount = &n
	return l
}

// liveContactLocked finds contact id for a write: nil with the answer
// given when it is unknown (404) or merged (410 with a Link to the
// canonical contact, as GET /contacts/{id} answers, or 404 with
// [WithMergedContactStatus]).
func (s *Server) liveContactLocked(c *call, id string) *Contact {
	ct := s.contacts[id]
	if ct == nil {
		c.fail(http.StatusNotFound, "not_found", "User Not Found")
		return nil
	}
	if ct.MergedInto != "" {
		canon := s.canonicalLocked(id)
		if canon == nil || s.cfg.mergedStatus == http.StatusNotFound {
			c.fail(http.StatusNotFound, "not_found", "User Not Found")
			return nil
		}
		c.w.Header().Set("Link", fmt.Sprintf(`</contacts/%s>; rel="canonical"`, canon.ID))
		c.fail(http.StatusGone, "contact_merged",
			"This contact has been merged. See the 'Link' header for the canonical contact.")
		return nil
	}
	return ct
}

// ---- PUT /contacts/{id} ----

type updateContactRequest struct {
	CustomAttributes map[string]any `json:"custom_attributes"`
}

func (s *Server) updateContact(c *call, id string) {
	var req updateContactRequest
	if !c.decode(&req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initContactDataLocked()
	ct := s.liveContactLocked(c, id)
	if ct == nil {
		return
	}
	set := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(req.CustomAttributes)) {
		def, ok := s.attrDefs[name]
		if !ok {
			c.fail(http.StatusBadRequest, "parameter_invalid", fmt.Sprintf("Custom attribute '%s' does not exist", name))
			return
		}
		v, ok := fitValue(def, req.CustomAttributes[name])
		if !ok {
			c.fail(http.StatusBadRequest, "parameter_invalid",
				fmt.Sprintf("Custom attribute '%s' expects a value of type %s", name, def.Type))
			return
		}
		set[name] = v
	}
	attrs := s.contactAttrs[ct.ID]
	if attrs == nil {
		attrs = map[string]any{}
		s.contactAttrs[ct.ID] = attrs
	}
	for name, v := range set {
		if v == nil {
			delete(attrs, name)
		} else {
			attrs[name] = v
		}
	}
	w := s.wireContact(ct)
	c.ok(w)
}

// fitValue checks v (decoded with UseNumber) against def's type and
// returns it as stored; nil clears.
func fitValue(def DataAttribute, v any) (any, bool) {
	if v == nil {
		return nil, true
	}
	switch def.Type {
	case AttributeString:
		s, ok := v.(string)
		return s, ok
	case AttributeBoolean:
		b, ok := v.(bool)
		return b, ok
	case AttributeInteger, AttributeDate, AttributeDatetime:
		n, ok := v.(json.Number)
		if !ok {
			return nil, false
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || (def.Type != AttributeInteger && i < 0) {
			return nil, false
		}
		return n, true
	case AttributeFloat:
		n, ok := v.(json.Number)
		if !ok {
			return nil, false
		}
		_, err := n.Float64()
		return n, err == nil
	}
	return nil, false
}

// ---- POST /contacts/{id}/tags ----

type contactTagRequest struct {
	ID *json.RawMessage `json:"id"`
}

func (s *Server) tagContact(c *call, id string) {
	var req contactTagRequest
	if !c.decode(&req) {
		return
	}
	tagID, ok := stringOrNumber(req.ID)
	if !ok || tagID == "" {
		c.fail(http.StatusBadRequest, "parameter_not_found", "id is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initContactDataLocked()
	ct := s.liveContactLocked(c, id)
	if ct == nil {
		return
	}
	tag := s.tags[tagID]
	if tag == nil {
		c.fail(http.StatusNotFound, "not_found", "Resource Not Found")
		return
	}
	for _, t := range s.contactTags[ct.ID] {
		if t.ID == tag.ID {
			c.ok(s.wireTag(t))
			return
		}
	}
	applied := Tag{ID: tag.ID, Name: tag.Name, AppliedAt: time.Now()}
	s.contactTags[ct.ID] = append(s.contactTags[ct.ID], applied)
	c.ok(s.wireTag(applied))
}

// stringOrNumber reads an id sent as a string or a number (the spec's
// examples send both).
func stringOrNumber(raw *json.RawMessage) (string, bool) {
	if raw == nil {
		return "", false
	}
	var s string
	if json.Unmarshal(*raw, &s) == nil {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(*raw, &n) == nil {
		return n.String(), true
	}
	return "", false
}

// ---- DELETE /contacts/{id}/tags/{tag_id} ----

func (s *Server) untagContact(c *call, id, tagID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initContactDataLocked()
	ct := s.liveContactLocked(c, id)
	if ct == nil {
		return
	}
	tag := s.tags[tagID]
	if tag == nil {
		c.fail(http.StatusNotFound, "not_found", "Resource Not Found")
		return
	}
	removed := Tag{ID: tag.ID, Name: tag.Name}
	tags := s.contactTags[ct.ID]
	for i, t := range tags {
		if t.ID == tag.ID {
			removed = t
			s.contactTags[ct.ID] = slices.Delete(slices.Clone(tags), i, i+1)
			break
		}
	}
	c.ok(s.wireTag(removed))
}

// ---- POST /tags ----

type createTagRequest struct {
	Name *string `json:"name"`
}

type wireTagCreated struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Users     []any  `json:"users"`
	Companies []any  `json:"companies"`
}

// createTag implements the create form of POST /tags: the tag named name,
// created when the workspace has none by that name (names are
// case-insensitive). Tagging companies and users through it is not
// served.
func (s *Server) createTag(c *call) {
	var req map[string]json.RawMessage
	if !c.decode(&req) {
		return
	}
	var body createTagRequest
	if raw, ok := req["name"]; ok {
		var name string
		if json.Unmarshal(raw, &name) == nil {
			body.Name = &name
		}
	}
	delete(req, "name")
	if body.Name == nil || strings.TrimSpace(*body.Name) == "" || len(req) > 0 {
		c.fail(http.StatusBadRequest, "parameter_invalid", "invalid tag parameters")
		return
	}
	t, err := s.AddTag(*body.Name)
	if err != nil {
		c.fail(http.StatusBadRequest, "parameter_invalid", "invalid tag parameters")
		return
	}
	c.ok(wireTagCreated{Type: "tag", ID: t.ID, Name: t.Name, Users: []any{}, Companies: []any{}})
}
