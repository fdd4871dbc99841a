package relay

import (
	"strconv"
	"strings"
	"time"
)

// This file builds every string the relay stores: markers (store.Mark),
// de-duplication keys (store.NewJob.DedupeKey), ordering keys
// (store.NewJob.Key) and job kinds.
//
// THESE STRINGS LIVE IN USERS' DATABASES. A relay of a later release reads
// what an earlier one wrote, and replicas of two releases run side by side
// during a rolling upgrade: changing one of these strings silently forgets
// what the old one recorded (a reply relayed twice, a text posted twice, a
// delivery accepted twice). Never change one; add a new one beside it.
// keys_test.go pins every one of them.

// marker is a fact the relay records with store.Mark and reads with
// store.Marked.
type marker string

// Markers.
//
// An "unsure" marker says that an attempt at a side effect ended without
// knowing whether it took effect (a timeout, a 502, a request cut off in
// flight): the next attempt, whatever its number, looks before repeating it.
func markPartRelayed(partID string) marker { return marker("intercom:" + partID) }

// markChunkSent records that chunk i of a part split into several texts
// was sent. Chunks are cut by twiliosms.SplitBody; a release that cuts
// differently gives i another meaning, so a long reply half sent by an
// earlier release may, after an upgrade, repeat some of its text.
func markChunkSent(partID string, i int) marker {
	return marker("intercom:" + partID + ":" + strconv.Itoa(i))
}

// markUnsureSend: chunk i of a part may have been sent.
func markUnsureSend(partID string, i int) marker {
	return marker("unsure-send:" + partID + ":" + strconv.Itoa(i))
}

// markUnsureStart: the customer's text messageSID may have started a
// conversation.
func markUnsureStart(messageSID string) marker { return marker("unsure-start:" + messageSID) }

// markUnsureStartAround: contactID's conversation may have been started by
// an unsure attempt in the minute of t (UTC). An agent's reply on a young
// conversation the relay has no record of waits, instead of being dropped,
// when such a marker exists for its contact around its creation time.
func markUnsureStartAround(contactID string, t time.Time) marker {
	return marker("unsure-start-contact:" + contactID + ":" + strconv.FormatInt(t.UTC().Unix()/60, 10))
}

// markUnsureReply: the customer's text messageSID may have been posted on
// its conversation.
func markUnsureReply(messageSID string) marker { return marker("unsure:" + messageSID) }

// markContactPart: Intercom part partID is one of the customer's texts,
// posted by the relay (so it is not some other text's lost reply).
func markContactPart(partID string) marker { return marker("contact-part:" + partID) }

// markOptChange: the customer's text messageSID changed their opt-out
// state (so a retry still owes the agents a note).
func markOptChange(messageSID string) marker { return marker("opt-change:" + messageSID) }

// markOptNote: the agents were told of text messageSID's opt-out change.
func markOptNote(messageSID string) marker { return marker("opt-note:" + messageSID) }

// De-duplication keys of webhook deliveries and of jobs the relay enqueues
// itself.
func dedupeTwilioMessage(messageSID string) string { return "twilio:message:" + messageSID }

func dedupeTwilioStatus(messageSID, status string) string {
	return "twilio:status:" + messageSID + ":" + status
}

func dedupeIntercomNotification(id string) string { return "intercom:notification:" + id }

func dedupeRoute(conversationID string) string { return "relay:route:" + conversationID }

// Ordering keys: jobs with one key run one at a time, in order.

// orderKey is the key of everything about one customer: their contact,
// their threads and their conversations change one job at a time. A
// WhatsApp address and the SMS address of the same phone share it.
func orderKey(customer string) string { return "customer:" + bareNumber(customer) }

// conversationKey holds an agent's reply on a conversation the relay has
// no record of yet.
func conversationKey(conversationID string) string { return "conversation:" + conversationID }

// statusKey orders the status callbacks of one message.
func statusKey(messageSID string) string { return "status:" + messageSID }

// unreadableKey holds a signed inbound webhook that did not parse.
func unreadableKey(from string) string { return "unreadable:" + from }

// Job kinds.
const (
	kindInbound  = "twilio.inbound"
	kindStatus   = "twilio.status"
	kindIntercom = "intercom.notification"
	kindRoute    = "intercom.route"
	// kindUnreadable holds a signed inbound webhook that did not parse; it
	// is dead-lettered on its first run, for an operator to look at.
	kindUnreadable = "twilio.unreadable"
)

// legacyStartedStatus is what releases before store.Message.Started wrote
// into Message.Status for a customer's text that started its
// conversation. It is read, never written.
const legacyStartedStatus = "received:started-conversation"

// receivedStatus is Twilio's status of a message it received.
const receivedStatus = "received"

// bareNumber strips the channel prefix from an address.
func bareNumber(addr string) string { return strings.TrimPrefix(addr, "whatsapp:") }
