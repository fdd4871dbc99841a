package intercom

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
)

// maxEmailLength bounds the address SearchContactsByEmail takes: RFC 5321
// allows 254 characters in a path.
const maxEmailLength = 254

// SearchContactsByEmail returns the contacts whose email equals email (POST
// /contacts/search with the field email, first page of up to 50), users and
// leads alike, as Intercom orders them. email must be a bare address
// ("ann@example.com"), not a display form ("Ann <ann@example.com>").
//
// Intercom matches the string as stored; the relay searches addresses in
// lower case. Like the search by phone, the search index lags behind
// writes: a contact given this email moments ago may not be found yet.
func (c *Client) SearchContactsByEmail(ctx context.Context, email string) ([]Contact, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return nil, errors.New("intercom: SearchContactsByEmail: empty email address")
	}
	if len(email) > maxEmailLength {
		return nil, fmt.Errorf("intercom: SearchContactsByEmail: email address of %d characters, more than %d", len(email), maxEmailLength)
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return nil, errors.New("intercom: SearchContactsByEmail: not a bare email address")
	}
	req := searchRequest{
		Query:      searchQuery{Operator: "AND", Value: []searchFilter{{Field: "email", Operator: "=", Value: email}}},
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
