package intercomtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// errContactConflict carries the id of the contact a new one collides with.
type errContactConflict struct{ id string }

func (e errContactConflict) Error() string {
	return "A contact matching those details already exists with id=" + e.id
}

// AddContact stores a contact as if it had been created through the API and
// returns it with its ID and CreatedAt filled in. Role defaults to "lead";
// it must be "user" or "lead". A contact whose phone, email or external id
// is already taken is refused, like POST /contacts answers 409.
func (s *Server) AddContact(c Contact) (Contact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ID != "" && s.contacts[c.ID] != nil {
		return Contact{}, fmt.Errorf("intercomtest: AddContact: id %q already exists", c.ID)
	}
	if c.Role == "" {
		c.Role = "lead"
	}
	if c.MergedInto != "" {
		return Contact{}, fmt.Errorf("intercomtest: AddContact: use MergeContact to merge contacts")
	}
	out, err := s.addContactLocked(c)
	if err != nil {
		return Contact{}, fmt.Errorf("intercomtest: AddContact: %w", err)
	}
	return *out, nil
}

func (s *Server) addContactLocked(c Contact) (*Contact, error) {
	if c.Role != "user" && c.Role != "lead" {
		return nil, fmt.Errorf("role must be user or lead, got %q", c.Role)
	}
	if id := s.conflictLocked(c); id != "" {
		return nil, errContactConflict{id: id}
	}
	if c.ID == "" {
		s.seq.contact++
		c.ID = fmt.Sprintf("6762f0dd%016x", s.seq.contact)
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	s.contacts[c.ID] = &c
	s.contactOrder = append(s.contactOrder, c.ID)
	return &c, nil
}

// conflictLocked returns the id of a live contact sharing c's phone, email
// or external id.
func (s *Server) conflictLocked(c Contact) string {
	for _, id := range s.contactOrder {
		o := s.contacts[id]
		if o.MergedInto != "" {
			continue
		}
		switch {
		case c.ExternalID != "" && o.ExternalID == c.ExternalID,
			c.Email != "" && strings.EqualFold(o.Email, c.Email),
			c.Phone != "" && (o.Phone == c.Phone || formatPhone(o.Phone) == formatPhone(c.Phone)):
			return o.ID
		}
	}
	return ""
}

// Contact returns the contact with the given id.
func (s *Server) Contact(id string) (Contact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.contacts[id]
	if c == nil {
		return Contact{}, false
	}
	return *c, true
}

// Contacts returns every contact, merged ones included, in creation order.
func (s *Server) Contacts() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Contact, 0, len(s.contactOrder))
	for _, id := range s.contactOrder {
		out = append(out, *s.contacts[id])
	}
	return out
}

// AddContactSharingPhone stores a contact like [Server.AddContact], but
// even when a live contact already has its phone number: a workspace can
// hold several contacts with one number (a user imported with it and a lead
// that texted from it, say), which a search by phone then finds together.
// A taken email or external id is still refused.
func (s *Server) AddContactSharingPhone(c Contact) (Contact, error) {
	if strings.TrimSpace(c.Phone) == "" {
		return Contact{}, fmt.Errorf("intercomtest: AddContactSharingPhone: phone is empty")
	}
	phone := c.Phone
	c.Phone = ""
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ID != "" && s.contacts[c.ID] != nil {
		return Contact{}, fmt.Errorf("intercomtest: AddContactSharingPhone: id %q already exists", c.ID)
	}
	if c.Role == "" {
		c.Role = "lead"
	}
	if c.MergedInto != "" {
		return Contact{}, fmt.Errorf("intercomtest: AddContactSharingPhone: use MergeContact to merge contacts")
	}
	out, err := s.addContactLocked(c) // checked without the phone
	if err != nil {
		return Contact{}, fmt.Errorf("intercomtest: AddContactSharingPhone: %w", err)
	}
	out.Phone = phone
	return *out, nil
}

// MergeContact merges contact from into contact into, as Intercom merges a
// lead into a user: from's conversations move to into, into takes from's
// phone, name and email where it has none, its UpdatedAt becomes now, GET
// /contacts/{from} answers 410 contact_merged with a Link to into (or 404,
// see [WithMergedContactStatus]), and search no longer finds from. Other
// calls naming from (POST /conversations, a contact's reply, contact
// notes) answer 404 "User Not Found".
func (s *Server) MergeContact(from, into string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mergeLocked(from, into)
}

// mergeLocked merges from into into, checking only that both exist and
// are live.
func (s *Server) mergeLocked(from, into string) error {
	f, t := s.contacts[from], s.contacts[into]
	switch {
	case from == into:
		return fmt.Errorf("intercomtest: MergeContact: cannot merge %q into itself", from)
	case f == nil:
		return fmt.Errorf("intercomtest: MergeContact: no contact %q", from)
	case t == nil:
		return fmt.Errorf("intercomtest: MergeContact: no contact %q", into)
	case f.MergedInto != "":
		return fmt.Errorf("intercomtest: MergeContact: %q is already merged into %q", from, f.MergedInto)
	case t.MergedInto != "":
		return fmt.Errorf("intercomtest: MergeContact: %q is merged into %q", into, t.MergedInto)
	}
	f.MergedInto = into
	if t.Phone == "" {
		t.Phone = f.Phone
	}
	if t.Name == "" {
		t.Name = f.Name
	}
	if t.Email == "" {
		t.Email = f.Email
	}
	t.UpdatedAt = time.Now()
	for _, c := range s.conversations {
		for i, id := range c.ContactIDs {
			if id == from {
				c.ContactIDs[i] = into
			}
		}
		c.ContactIDs = slices.Compact(c.ContactIDs)
	}
	return nil
}

// canonicalLocked follows merges to the live contact.
func (s *Server) canonicalLocked(id string) *Contact {
	c := s.contacts[id]
	for i := 0; c != nil && c.MergedInto != "" && i < 100; i++ {
		c = s.contacts[c.MergedInto]
	}
	return c
}

// formatPhone is the contact's formatted_phone: the number without spaces,
// dashes, dots and parentheses, with a 00 prefix written as +.
func formatPhone(p string) string {
	if p == "" {
		return ""
	}
	var b strings.Builder
	for _, r := range p {
		switch r {
		case ' ', '-', '.', '(', ')', '\u00a0':
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	if strings.HasPrefix(out, "00") {
		out = "+" + out[2:]
	}
	return out
}

// decode reads the JSON request body into v, answering 400 on failure.
func (c *call) decode(v any) bool {
	if len(bytes.TrimSpace(c.body)) == 0 {
		c.fail(http.StatusBadRequest, "parameter_invalid", "request body is empty")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		c.fail(http.StatusBadRequest, "parameter_invalid", "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// ---- POST /contacts ----

type createContactRequest struct {
	Role       *string `json:"role"`
	ExternalID *string `json:"external_id"`
	Email      *string `json:"email"`
	Phone      *string `json:"phone"`
	Name       *string `json:"name"`
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *Server) createContact(c *call) {
	var req createContactRequest
	if !c.decode(&req) {
		return
	}
	if req.Role == nil && req.Email == nil && req.ExternalID == nil {
		c.fail(http.StatusBadRequest, "parameter_invalid", "one of email, external_id or role is required")
		return
	}
	ct := Contact{
		Role:       deref(req.Role),
		ExternalID: deref(req.ExternalID),
		Email:      deref(req.Email),
		Phone:      deref(req.Phone),
		Name:       deref(req.Name),
	}
	if ct.Role == "" {
		ct.Role = "user"
	}
	s.mu.Lock()
	out, err := s.addContactLocked(ct)
	var w wireContact
	if err == nil {
		w = s.wireContact(out)
	}
	s.mu.Unlock()
	var conflict errContactConflict
	switch {
	case errors.As(err, &conflict):
		c.fail(http.StatusConflict, "conflict", conflict.Error())
	case err != nil:
		c.fail(http.StatusBadRequest, "parameter_invalid", err.Error())
	default:
		c.ok(w)
	}
}

// ---- GET /contacts/{id} ----

func (s *Server) showContact(c *call, id string) {
	s.mu.Lock()
	ct := s.contacts[id]
	var canon *Contact
	var w wireContact
	if ct != nil {
		canon = s.canonicalLocked(id)
		w = s.wireContact(ct)
	}
	s.mu.Unlock()
	switch {
	case ct == nil:
		c.fail(http.StatusNotFound, "not_found", "User Not Found")
	case ct.MergedInto != "" && (canon == nil || s.cfg.mergedStatus == http.StatusNotFound):
		c.fail(http.StatusNotFound, "not_found", "User Not Found")
	case ct.MergedInto != "":
		c.w.Header().Set("Link", fmt.Sprintf(`</contacts/%s>; rel="canonical"`, canon.ID))
		c.fail(http.StatusGone, "contact_merged",
			"This contact has been merged. See the 'Link' header for the canonical contact.")
	default:
		c.ok(w)
	}
}

// ---- POST /contacts/search ----

type wireContactList struct {
	Type       string        `json:"type"`
	Data       []wireContact `json:"data"`
	TotalCount int           `json:"total_count"`
	Pages      wirePages     `json:"pages"`
}

func (s *Server) searchContacts(c *call) {
	var req searchRequest
	if !c.decode(&req) {
		return
	}
	f, ok := c.query(&req, contactFields)
	if !ok {
		return
	}
	if req.Sort != nil && req.Sort.Order != "" && req.Sort.Order != "ascending" && req.Sort.Order != "descending" {
		c.fail(http.StatusBadRequest, "invalid_sort_order",
			fmt.Sprintf("Invalid sort order '%s'. Must be one of: ascending, descending", req.Sort.Order))
		return
	}
	perPage, offset, ok := c.page(&req, 50)
	if !ok {
		return
	}

	now := time.Now()
	s.mu.Lock()
	var hits []*Contact
	for _, id := range s.contactOrder {
		ct := s.contacts[id]
		if ct.MergedInto != "" || now.Sub(ct.CreatedAt) < s.cfg.searchLag {
			continue
		}
		if f.match(ct.searchValues) {
			hits = append(hits, ct)
		}
	}
	if req.Sort != nil && req.Sort.Order == "descending" {
		slices.Reverse(hits)
	}
	lo, hi := bounds(len(hits), offset, perPage)
	out := wireContactList{
		Type:       "list",
		Data:       make([]wireContact, 0, hi-lo),
		TotalCount: len(hits),
		Pages:      pages(len(hits), offset, perPage),
	}
	for _, ct := range hits[lo:hi] {
		out.Data = append(out.Data, s.wireContact(ct))
	}
	s.mu.Unlock()
	c.ok(out)
}

// contactFields are the contact fields the server can search on.
var contactFields = fieldSet{
	"id": kindString, "role": kindString, "name": kindString, "email": kindString,
	"phone": kindString, "formatted_phone": kindString, "external_id": kindString,
}

// searchValues returns the values of a searchable contact field.
func (c *Contact) searchValues(field string) []string {
	switch field {
	case "id":
		return []string{c.ID}
	case "role":
		return []string{c.Role}
	case "name":
		return []string{c.Name}
	case "email":
		return []string{c.Email}
	case "phone":
		return []string{c.Phone}
	case "formatted_phone":
		return []string{formatPhone(c.Phone)}
	case "external_id":
		return []string{c.ExternalID}
	}
	return nil
}
