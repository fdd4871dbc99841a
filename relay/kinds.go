package relay

// Job kinds, as the operator API and [Relay.DeadLetters] show them in
// store.Job.Kind. They are the strings of keys.go, which never change.
const (
	// KindInbound is a customer's text, to be put on an Intercom
	// conversation.
	KindInbound = kindInbound
	// KindStatus is a Twilio delivery status of a text the relay sent.
	KindStatus = kindStatus
	// KindIntercom is an Intercom notification: an agent's reply to send by
	// SMS, or a conversation closed, opened or assigned.
	KindIntercom = kindIntercom
	// KindRoute applies a Route to a conversation the relay started.
	KindRoute = kindRoute
	// KindUnreadable is a signed inbound webhook the relay could not read,
	// kept for an operator; it is dead-lettered on its first run.
	KindUnreadable = kindUnreadable
	// KindContactSync updates a customer's Intercom contact
	// (Config.ContactSync): replay its dead letters after creating the
	// data attribute Intercom refused.
	KindContactSync = kindContactSync
)

// Kinds lists every job kind the relay runs.
func Kinds() []string {
	return []string{KindInbound, KindStatus, KindIntercom, KindRoute, KindUnreadable,
		KindContactSync}
}
