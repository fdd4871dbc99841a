package intercomtest

import (
	"net/http"
	"strings"
)

// ---- POST /contacts/merge ----

// mergeContactsRequest follows the spec's merge_contacts_request schema.
type mergeContactsRequest struct {
	From                    *string `json:"from"`
	Into                    *string `json:"into"`
	SkipDuplicateValidation *bool   `json:"skip_duplicate_validation"`
}

// Messages of the merge endpoint's refusals. invalidMergeMessage is the
// spec's (MergeContact, 400 "Not a duplicate"); the others are not in the
// 2.16 description and follow the shape of Intercom's error list.
const (
	invalidMergeMessage = "Contacts can only be merged when they are duplicates (matching email or phone). Pass skip_duplicate_validation=true to override this check."
	fromNotLeadMessage  = "The contact to merge from must be a lead"
	intoNotUserMessage  = "The contact to merge into must be a user"
)

// mergeContacts merges a lead into a user, as POST /contacts/merge does:
// from must be a live lead and into a live user (400 otherwise; an unknown
// or already merged id answers 404 User Not Found), and they must share an
// email or a phone number unless skip_duplicate_validation is true (400
// invalid_merge). On success from's conversations move to into, GET
// /contacts/{from} answers 410 with a Link to into, searches no longer
// find from, and the answer is into.
func (s *Server) mergeContacts(c *call) {
	var req mergeContactsRequest
	if !c.decode(&req) {
		return
	}
	if req.From == nil || *req.From == "" || req.Into == nil || *req.Into == "" {
		c.fail(http.StatusBadRequest, "parameter_invalid", "from and into are required")
		return
	}
	from, into := *req.From, *req.Into
	skip := req.SkipDuplicateValidation != nil && *req.SkipDuplicateValidation
	s.mu.Lock()
	f, t := s.contacts[from], s.contacts[into]
	var w wireContact
	var status int
	var code, msg string
	switch {
	case f == nil || f.MergedInto != "" || t == nil || t.MergedInto != "":
		status, code, msg = http.StatusNotFound, "not_found", "User Not Found"
	case from == into:
		status, code, msg = http.StatusBadRequest, "parameter_invalid", "cannot merge a contact into itself"
	case f.Role != "lead":
		status, code, msg = http.StatusBadRequest, "parameter_invalid", fromNotLeadMessage
	case t.Role != "user":
		status, code, msg = http.StatusBadRequest, "parameter_invalid", intoNotUserMessage
	case !skip && !duplicates(f, t):
		status, code, msg = http.StatusBadRequest, "invalid_merge", invalidMergeMessage
	default:
		if err := s.mergeLocked(from, into); err != nil {
			status, code, msg = http.StatusBadRequest, "parameter_invalid", err.Error()
		} else {
			w = s.wireContact(t)
		}
	}
	s.mu.Unlock()
	if status != 0 {
		c.fail(status, code, msg)
		return
	}
	c.ok(w)
}

// duplicates reports whether two contacts share an email or a phone
// number, which Intercom requires of a merge by default.
func duplicates(a, b *Contact) bool {
	return a.Email != "" && strings.EqualFold(a.Email, b.Email) ||
		a.Phone != "" && formatPhone(a.Phone) == formatPhone(b.Phone)
}
