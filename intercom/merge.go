package intercom

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// mergeRequest follows the spec's merge_contacts_request schema.
type mergeRequest struct {
	From                    string `json:"from"`
	Into                    string `json:"into"`
	SkipDuplicateValidation bool   `json:"skip_duplicate_validation,omitempty"`
}

// MergeContacts merges the lead from into the user into (POST
// /contacts/merge) and returns the user as it is after the merge. from's
// conversations, notes and attributes move to into; from is gone for good:
// GET /contacts/{from} answers 404 or 410 with a Link to into, and searches
// no longer find it.
//
// Intercom merges only duplicates, contacts that share an email or a phone
// number; otherwise it answers 400 invalid_merge ([IsInvalidMerge]).
// [Client.MergeContactsSkippingValidation] merges contacts that are not.
//
// A merge is not repeated by the client after an answer that may hide
// success (a timeout, a 502): a second merge of a lead already merged
// fails. Look with [Client.Contact] on from: after a merge it resolves to
// into.
func (c *Client) MergeContacts(ctx context.Context, from, into string) (*Contact, error) {
	return c.merge(ctx, "MergeContacts", mergeRequest{From: from, Into: into})
}

// MergeContactsSkippingValidation is [Client.MergeContacts] with
// skip_duplicate_validation: Intercom merges the lead into the user even
// when they share no email and no phone number. Whoever calls it vouches
// that the two are one person.
func (c *Client) MergeContactsSkippingValidation(ctx context.Context, from, into string) (*Contact, error) {
	return c.merge(ctx, "MergeContactsSkippingValidation", mergeRequest{From: from, Into: into, SkipDuplicateValidation: true})
}

func (c *Client) merge(ctx context.Context, what string, req mergeRequest) (*Contact, error) {
	if _, err := pathID("from contact id", req.From); err != nil {
		return nil, fmt.Errorf("intercom: %s: %w", what, err)
	}
	if _, err := pathID("into contact id", req.Into); err != nil {
		return nil, fmt.Errorf("intercom: %s: %w", what, err)
	}
	if req.From == req.Into {
		return nil, fmt.Errorf("intercom: %s: cannot merge contact %s into itself", what, req.From)
	}
	var out wireContact
	if _, err := c.do(ctx, call{method: http.MethodPost, path: "/contacts/merge", in: req, out: &out, creates: true}); err != nil {
		return nil, err
	}
	ct := out.contact()
	if ct.ID == "" {
		return nil, errors.New("intercom: POST /contacts/merge: answer carries no contact id")
	}
	return &ct, nil
}

// IsInvalidMerge reports whether err is Intercom's refusal of a merge:
// 400 invalid_merge (the contacts are not duplicates) or another 400 or
// 404 answer to POST /contacts/merge (a from that is not a lead, an into
// that is not a user, an unknown id). Retrying such a merge cannot help.
func IsInvalidMerge(err error) bool {
	var ie *Error
	if !errors.As(err, &ie) {
		return false
	}
	return ie.StatusCode == http.StatusBadRequest || ie.StatusCode == http.StatusNotFound
}
