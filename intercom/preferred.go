package intercom

// PreferredContact picks, among contacts found for one customer (say, by
// [Client.SearchContactsByPhone]), the one to act as: a user (an
// identified customer) before a lead, and among those of the best role the
// most recently updated (UpdatedAt). Contacts of any other role come last.
// Contacts without an id are skipped. Of two contacts equal in role and
// UpdatedAt, the one earlier in cs wins, so that the choice is stable for
// a given answer. It reports false when cs holds no contact with an id.
func PreferredContact(cs []Contact) (Contact, bool) {
	best := -1
	for i := range cs {
		if cs[i].ID == "" {
			continue
		}
		if best < 0 || preferred(cs[i], cs[best]) {
			best = i
		}
	}
	if best < 0 {
		return Contact{}, false
	}
	return cs[best], true
}

// preferred reports whether a ranks strictly before b.
func preferred(a, b Contact) bool {
	if ra, rb := roleRank(a.Role), roleRank(b.Role); ra != rb {
		return ra < rb
	}
	return a.UpdatedAt.After(b.UpdatedAt)
}

func roleRank(role string) int {
	switch role {
	case "user":
		return 0
	case "lead":
		return 1
	}
	return 2
}
