package intercom

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// searchPageSize is how many contacts one phone search asks for.
const searchPageSize = 50

// searchFilter and searchQuery follow the spec's single_filter_search_request
// and multiple_filter_search_request schemas.
type searchFilter struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    string `json:"value"`
}

type searchQuery struct {
	Operator string         `json:"operator"`
	Value    []searchFilter `json:"value"`
}

type searchRequest struct {
	Query      searchQuery    `json:"query"`
	Pagination map[string]int `json:"pagination,omitempty"`
}

// SearchContactsByPhone returns the contacts whose phone or formatted_phone
// equals phone (POST /contacts/search, first page of up to 50). Store and
// search numbers in E.164 ("+15551234567"): Intercom matches the string
// exactly.
//
// Intercom's search index lags behind writes: a contact created moments ago
// may not be found for a few minutes. Remember the contacts you create
// rather than searching for them; [Client.CreateContact] recovers from the
// resulting conflict.
func (c *Client) SearchContactsByPhone(ctx context.Context, phone string) ([]Contact, error) {
	phone = strings.TrimSpace(phone)
	if phone == "" {
		return nil, errors.New("intercom: SearchContactsByPhone: empty phone number")
	}
	req := searchRequest{
		Query: searchQuery{Operator: "OR", Value: []searchFilter{
			{Field: "phone", Operator: "=", Value: phone},
			{Field: "formatted_phone", Operator: "=", Value: phone},
		}},
		Pagination: map[string]int{"per_page": searchPageSize},
	}
	var out wireContactList
	if _, err := c.do(ctx, call{method: http.MethodPost, path: "/contacts/search", in: req, out: &out}); err != nil {
		return nil, err
	}
	contacts := make([]Contact, 0, len(out.Data))
	for _, w := range out.Data {
		contacts = append(contacts, w.contact())
	}
	return contacts, nil
}

// ContactCreate describes a contact to create.
type ContactCreate struct {
	// Role is "lead" or "user"; empty means "lead", the role of a customer
	// known only by a phone number.
	Role string
	// Phone in E.164, like "+15551234567".
	Phone string
	// Name, optional.
	Name string
	// ExternalID is your own unique key for the contact, optional.
	ExternalID string
}

type createContactRequest struct {
	Role       string `json:"role"`
	Phone      string `json:"phone,omitempty"`
	Name       string `json:"name,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
}

// conflictID finds the existing contact's id in a 409 message such as
// "A contact matching those details already exists with id=6762f0dd1bb69f9f2193bb83".
var conflictID = regexp.MustCompile(`\bid=([A-Za-z0-9_-]+)`)

// CreateContact creates a contact (POST /contacts). When Intercom answers
// 409 conflict because a matching contact already exists, and names its id
// ("... already exists with id=..."), CreateContact fetches that contact
// and returns it with a nil error: the outcome the caller wanted. A
// conflict that names no id is returned as an error matching [ErrConflict].
func (c *Client) CreateContact(ctx context.Context, cc ContactCreate) (*Contact, error) {
	role := cc.Role
	if role == "" {
		role = "lead"
	}
	if role != "lead" && role != "user" {
		return nil, fmt.Errorf("intercom: CreateContact: role must be \"lead\" or \"user\", got %q", cc.Role)
	}
	if strings.TrimSpace(cc.Phone) == "" && strings.TrimSpace(cc.ExternalID) == "" {
		return nil, errors.New("intercom: CreateContact: need a phone number or an external id")
	}
	req := createContactRequest{Role: role, Phone: cc.Phone, Name: cc.Name, ExternalID: cc.ExternalID}
	var out wireContact
	_, err := c.do(ctx, call{method: http.MethodPost, path: "/contacts", in: req, out: &out})
	if err == nil {
		ct := out.contact()
		if ct.ID == "" {
			return nil, errors.New("intercom: POST /contacts: answer carries no contact id")
		}
		return &ct, nil
	}
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict {
		return nil, err
	}
	id := ""
	for _, it := range apiErr.Errors {
		if m := conflictID.FindStringSubmatch(it.Message); m != nil {
			id = m[1]
			break
		}
	}
	if id == "" {
		return nil, err
	}
	c.log.DebugContext(ctx, "intercom: contact exists, fetching it", "contact_id", id)
	ct, gerr := c.Contact(withoutAdmission(ctx), id)
	if gerr != nil {
		return nil, fmt.Errorf("intercom: CreateContact: contact exists (id %s) but fetching it failed: %w", id, gerr)
	}
	return ct, nil
}

// Contact fetches a contact by its Intercom id (GET /contacts/{id}). A
// contact merged into another answers 410 Gone with a Link header naming
// the canonical contact; Contact follows it once and returns the canonical
// contact, whose ID then differs from id. Update any id you cached.
func (c *Client) Contact(ctx context.Context, id string) (*Contact, error) {
	p, err := pathID("contact id", id)
	if err != nil {
		return nil, fmt.Errorf("intercom: Contact: %w", err)
	}
	var out wireContact
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/contacts/" + p, out: &out}); err != nil {
		canonical, ok := MergedInto(err)
		if !ok || canonical == id {
			return nil, err
		}
		c.log.DebugContext(ctx, "intercom: contact merged, following", "contact_id", id, "canonical_id", canonical)
		cp, perr := pathID("contact id", canonical)
		if perr != nil {
			return nil, err
		}
		out = wireContact{}
		if _, err := c.do(withoutAdmission(ctx), call{method: http.MethodGet, path: "/contacts/" + cp, out: &out}); err != nil {
			return nil, fmt.Errorf("intercom: Contact: %s was merged into %s: %w", id, canonical, err)
		}
	}
	ct := out.contact()
	if ct.ID == "" {
		return nil, fmt.Errorf("intercom: GET /contacts/%s: answer carries no contact id", p)
	}
	return &ct, nil
}

// canonicalContact extracts the contact id from a header like
// Link: </contacts/6762f0d01bb69f9f2193bb7d>; rel="canonical".
func canonicalContact(h http.Header) (string, bool) {
	for _, v := range h.Values("Link") {
		for _, link := range strings.Split(v, ",") {
			parts := strings.Split(link, ";")
			target := strings.TrimSpace(parts[0])
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			canonical := false
			for _, param := range parts[1:] {
				k, val, _ := strings.Cut(strings.TrimSpace(param), "=")
				if strings.EqualFold(strings.TrimSpace(k), "rel") &&
					strings.EqualFold(strings.Trim(strings.TrimSpace(val), `"`), "canonical") {
					canonical = true
				}
			}
			if !canonical {
				continue
			}
			target = strings.TrimSuffix(strings.TrimPrefix(target, "<"), ">")
			if i := strings.Index(target, "/contacts/"); i >= 0 {
				id := strings.TrimSuffix(target[i+len("/contacts/"):], "/")
				if j := strings.IndexAny(id, "?#"); j >= 0 {
					id = id[:j]
				}
				if id != "" && !strings.Contains(id, "/") {
					return id, true
				}
			}
		}
	}
	return "", false
}
