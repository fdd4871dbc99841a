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
	// KindProactive is a text sent first ([Relay.Send]) whose note on the
	// contact or answer window is still to be recorded.
	KindProactive = kindProactive
	// KindWhatsAppReopen sends Config.WhatsAppTemplate to a WhatsApp
	// customer whose 24-hour window closed.
	KindWhatsAppReopen = kindReopen
	// KindCanvasSend is a text an agent sent from the Inbox app.
	KindCanvasSend = kindCanvasSend
	// KindPageWait waits Paging.After for a reply, then pages the agent.
	KindPageWait = kindPageWait
	// KindBackfill is a batch of texts imported from Twilio's message log
	// ([Relay.Backfill]).
	KindBackfill = kindBackfill
)

// Kinds lists every job kind the relay runs, as the operator API accepts
// them.
func Kinds() []string {
	return []string{KindInbound, KindStatus, KindIntercom, KindRoute, KindUnreadable,
		KindProactive, KindWhatsAppReopen, KindCanvasSend, KindPageWait,
		KindContactSync, KindBackfill}
}
