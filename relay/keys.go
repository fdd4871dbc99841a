package relay

import (
	"strconv"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/store"
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

// Texts sent first (Relay.Send).

// proactivePartPrefix starts the PartID of the store.Message of a text
// sent first.
const proactivePartPrefix = "proactive:"

// proactivePartID is the PartID recorded with a text Relay.Send sent under
// idempotency key idem: it tells the text from an agent's reply, and from
// the texts of other keys.
func proactivePartID(idem string) string { return proactivePartPrefix + idem }

// proactiveNoConversation is the ConversationID recorded with a text sent
// first to a customer who has no SMS conversation yet (a store.Message
// needs one).
const proactiveNoConversation = "proactive:none"

// markProactiveSent: chunk i of the text of idempotency key idem was sent.
func markProactiveSent(idem string, i int) marker {
	return marker("proactive-sent:" + idem + ":" + strconv.Itoa(i))
}

// markUnsureProactive: chunk i of the text of key idem may have been sent.
func markUnsureProactive(idem string, i int) marker {
	return marker("unsure-proactive:" + idem + ":" + strconv.Itoa(i))
}

// markProactiveNoted: text sid sent first is noted on the contact.
func markProactiveNoted(sid string) marker { return marker("proactive-noted:" + sid) }

// markUnsureProactiveNote: the note of text sid may have been added.
func markUnsureProactiveNote(sid string) marker { return marker("unsure-proactive-note:" + sid) }

// markProactiveThread: a text ever went first to the thread key; only then
// does a customer's text on it look for the days of markProactiveDay.
func markProactiveThread(key store.ThreadKey) marker {
	return marker("proactive-thread:" + key.String())
}

// markProactiveDay: a text went first to the thread key on t's day (UTC).
func markProactiveDay(key store.ThreadKey, t time.Time) marker {
	return marker("proactive-day:" + key.String() + ":" + strconv.FormatInt(t.UTC().Unix()/86400, 10))
}

// markProactiveAnswered: an answer to text sid was noted on its
// conversation.
func markProactiveAnswered(sid string) marker { return marker("proactive-answered:" + sid) }

// markProactiveAnsweredOn: an answer on conversation convID to a text sent
// first that could not be looked up (no SentLister) was noted, for the
// window starting at since's day.
func markProactiveAnsweredOn(convID string, since time.Time) marker {
	return marker("proactive-answered-on:" + convID + ":" + strconv.FormatInt(since.UTC().Unix()/86400, 10))
}

// markReopenSent: the WhatsApp template was sent (or refused, with a note)
// to re-open the window of thread key on t's day (UTC).
func markReopenSent(key store.ThreadKey, t time.Time) marker {
	return marker("wa-reopen:" + key.String() + ":" + strconv.FormatInt(t.UTC().Unix()/86400, 10))
}

// markUnsureReopen: the WhatsApp template of markReopenSent may have been
// sent.
func markUnsureReopen(key store.ThreadKey, t time.Time) marker {
	return marker("unsure-wa-reopen:" + key.String() + ":" + strconv.FormatInt(t.UTC().Unix()/86400, 10))
}

// reopenPartID is the PartID recorded with a WhatsApp template the relay
// sent to re-open thread key's window on t's day, and the de-duplication
// key of the job that sends it.
func reopenPartID(key store.ThreadKey, t time.Time) string {
	return "wa-reopen:" + key.String() + ":" + strconv.FormatInt(t.UTC().Unix()/86400, 10)
}

// markCanvasSent: chunk i of Inbox app job jobID was sent.
func markCanvasSent(jobID string, i int) marker {
	return marker("canvas-sent:" + jobID + ":" + strconv.Itoa(i))
}

// markUnsureCanvas: chunk i of Inbox app job jobID may have been sent.
func markUnsureCanvas(jobID string, i int) marker {
	return marker("unsure-canvas:" + jobID + ":" + strconv.Itoa(i))
}

// markCanvasNoted: the text of Inbox app job jobID is noted on its
// conversation.
func markCanvasNoted(jobID string) marker { return marker("canvas-noted:" + jobID) }

// canvasPartID is the PartID recorded with a text of Inbox app job jobID.
func canvasPartID(jobID string) string { return "canvas:" + jobID }

// dedupeCanvas keys an Inbox app send by a hash of its conversation,
// teammate and message, and the minute of t: a double click sends once.
func dedupeCanvas(hash string, t time.Time) string {
	return "relay:canvas:" + hash + ":" + strconv.FormatInt(t.UTC().Unix()/60, 10)
}

// dedupeProactive keys the job that records text sid in Intercom.
func dedupeProactive(sid string) string { return "relay:proactive:" + sid }

// Job kinds.
const (
	kindInbound  = "twilio.inbound"
	kindStatus   = "twilio.status"
	kindIntercom = "intercom.notification"
	kindRoute    = "intercom.route"
	// kindUnreadable holds a signed inbound webhook that did not parse; it
	// is dead-lettered on its first run, for an operator to look at.
	kindUnreadable = "twilio.unreadable"
	// kindProactive records a text sent first in Intercom.
	kindProactive = "relay.proactive"
	// kindReopen sends the WhatsApp template to re-open a thread's window.
	kindReopen = "relay.whatsapp-reopen"
	// kindCanvasSend sends a text a teammate wrote in the Inbox app.
	kindCanvasSend = "relay.canvas-send"
)

// legacyStartedStatus is what releases before store.Message.Started wrote
// into Message.Status for a customer's text that started its
// conversation. It is read, never written.
const legacyStartedStatus = "received:started-conversation"

// receivedStatus is Twilio's status of a message it received.
const receivedStatus = "received"

// bareNumber strips the channel prefix from an address.
func bareNumber(addr string) string { return strings.TrimPrefix(addr, "whatsapp:") }

// Agent paging (page.go).

// markPaged: the agent was paged for conversation convID's waiting spell
// spell (one page per spell).
func markPaged(convID, spell string) marker { return marker("paged:" + convID + ":" + spell) }

// markPageSent: chunk i of the page for convID's spell was sent.
func markPageSent(convID, spell string, i int) marker {
	return marker("page-sent:" + convID + ":" + spell + ":" + strconv.Itoa(i))
}

// markUnsurePage: chunk i of the page for convID's spell may have been sent.
func markUnsurePage(convID, spell string, i int) marker {
	return marker("unsure-page:" + convID + ":" + spell + ":" + strconv.Itoa(i))
}

// markPageAckPart: Intercom note partID is an agent's acknowledgement of
// a page; it ends the waiting spell like an admin's reply.
func markPageAckPart(partID string) marker { return marker("page-ack-part:" + partID) }

// markPageAckNoted: the agent's text messageSID acknowledging a page is a
// note on the conversation.
func markPageAckNoted(messageSID string) marker { return marker("page-ack-noted:" + messageSID) }

// markPageAckTold: the conversation notes that text messageSID
// acknowledged the page.
func markPageAckTold(messageSID string) marker { return marker("page-ack-told:" + messageSID) }

// pageRecordSID is the SID under which the last page to agent phone from
// sender is recorded (a store.Message whose PartID is a pagePartID): an
// agent's text to sender is read against it.
func pageRecordSID(phone, sender string) string { return "page:" + phone + ":" + sender }

// pagePartPrefix starts the PartID of a page record.
const pagePartPrefix = "page:"

// pagePartID is the PartID of a page record: when it was sent (UNIX
// seconds), to which admin ("" for an on-call number without one) and for
// which spell.
func pagePartID(at time.Time, adminID, spell string) string {
	return pagePartPrefix + strconv.FormatInt(at.UTC().Unix(), 10) + ":" + adminID + ":" + spell
}

// dedupePageWait keys the delayed job that pages when the customer's text
// messageSID waits too long.
func dedupePageWait(messageSID string) string { return "relay:page-wait:" + messageSID }

// pageKey orders the paging jobs of one conversation, apart from the
// customer's jobs, which a waiting job must not hold up.
func pageKey(convID string) string { return "page:" + convID }

// Job kinds of agent paging.
const (
	// kindPageWait pages when a customer's text waits too long.
	kindPageWait = "relay.page-wait"
)

// Contacts kept up to date with the customer's texting (contactsync.go).

// contactSyncKey orders the contact updates of one customer, apart from
// the customer's jobs, which an update Intercom keeps failing must not
// hold up. A WhatsApp address and the SMS address of the same phone share
// it.
func contactSyncKey(customer string) string { return "contact-sync:" + bareNumber(customer) }

// dedupeContactSyncOptOut keys the contact update that follows the
// opt-out change of source (a customer's text's MessageSid, or the id of
// the part or job whose send Twilio refused as opted out).
func dedupeContactSyncOptOut(source string) string { return "relay:contact-sync:opt:" + source }

// optSourcePrompt is the source (dedupeContactSyncOptOut) of an opt-out
// learned from Twilio refusing the identity prompt that customer text
// messageSID set off.
func optSourcePrompt(messageSID string) string { return "identity-prompt:" + messageSID }

// optSourceStatus is the source (dedupeContactSyncOptOut) of an opt-out
// learned from a status callback saying text messageSID failed because the
// customer opted out.
func optSourceStatus(messageSID string) string { return "status:" + messageSID }

// dedupeContactSyncSent keys the update of the last-sent time of
// customer's contact for the period (every long) that holds t: one per
// customer per period.
func dedupeContactSyncSent(customer string, every time.Duration, t time.Time) string {
	secs := max(int64(every/time.Second), 1)
	return "relay:contact-sync:sent:" + bareNumber(customer) + ":" + strconv.FormatInt(secs, 10) + ":" +
		strconv.FormatInt(t.UTC().Unix()/secs, 10)
}

// lastSentRecordSID is the SID under which the last-sent time set on
// customer's contact is recorded (a store.Message whose PartID is a
// lastSentPartID), so that an older time never replaces a later one.
func lastSentRecordSID(customer string) string { return "contact-sync-sent:" + bareNumber(customer) }

// lastSentRecordConversation is the ConversationID of a last-sent record
// (a store.Message needs one).
const lastSentRecordConversation = "contact-sync:none"

// lastSentPartPrefix starts the PartID of a last-sent record.
const lastSentPartPrefix = "contact-sync-sent:"

// lastSentPartID is the PartID of a last-sent record: the time set, in
// UNIX seconds.
func lastSentPartID(at time.Time) string {
	return lastSentPartPrefix + strconv.FormatInt(at.UTC().Unix(), 10)
}

// Job kinds of contact updates.
const (
	// kindContactSync updates a customer's contact: opt-out attribute
	// and tag, or last-sent time.
	kindContactSync = "relay.contact-sync"
)

// Identity bridge (identity.go). Keyed by the customer's bare number
// (bareNumber): a WhatsApp address and the SMS address of one phone are one
// customer to ask.

// markIdentityDone: the number is never asked for an email (again): it
// answered, refused, opted out, or its contact is known (a user, or a lead
// with an email).
func markIdentityDone(phone string) marker { return marker("identity-done:" + phone) }

// markIdentityAsked: the number was asked for its email; its next text is
// the answer.
func markIdentityAsked(phone string) marker { return marker("identity-asked:" + phone) }

// markUnsureIdentityPrompt: the prompt that customer text messageSID set
// off may have been sent.
func markUnsureIdentityPrompt(messageSID string) marker {
	return marker("unsure-identity-prompt:" + messageSID)
}

// markIdentityClaim: customer text messageSID took the period's claim to
// the prompt (seenIdentityPrompt) and may send it, or, when it gives an
// address (givenEmail), it is the answer and no prompt is sent.
func markIdentityClaim(messageSID string) marker { return marker("identity-claim:" + messageSID) }

// markUnsureIdentityMerge: the merge that answer messageSID set off may
// have been made.
func markUnsureIdentityMerge(messageSID string) marker {
	return marker("unsure-identity-merge:" + messageSID)
}

// markIdentityNoted: the identity note about customer text messageSID (the
// prompt it set off, or what its answer did) is on its conversation.
func markIdentityNoted(messageSID string) marker { return marker("identity-noted:" + messageSID) }

// markUnsureIdentityNote: the note of markIdentityNoted may have been
// added.
func markUnsureIdentityNote(messageSID string) marker {
	return marker("unsure-identity-note:" + messageSID)
}

// seenIdentityPrompt is the store.MarkSeen key that allows one prompt per
// number per IdentityBridge.Period, even where the markers above are gone.
func seenIdentityPrompt(phone string) string { return "identity-prompt:" + phone }

// identityPartPrefix starts the PartID of the store.Message of a prompt.
const identityPartPrefix = "identity:"

// identityPartID is the PartID recorded with the prompt sent to phone.
func identityPartID(phone string) string { return identityPartPrefix + phone }

// Backfill (backfill.go): the account's earlier texts imported from
// Twilio's message log.

// markBackfilled: message messageSID of Twilio's log is in Intercom,
// imported by a backfill or found carried by the relay; no backfill
// imports it again.
func markBackfilled(messageSID string) marker { return marker("backfill:" + messageSID) }

// markBackfillFailed: backfill run could not import message messageSID
// (Intercom refused it for good); a later run tries again.
func markBackfillFailed(run, messageSID string) marker {
	return marker("backfill-failed:" + run + ":" + messageSID)
}

// markBackfillPlacing: a backfill set out to put the customer's message
// messageSID on a conversation; a message record for it is then the
// backfill's, not the relay's live work, even before markBackfilled.
func markBackfillPlacing(messageSID string) marker {
	return marker("backfill-placing:" + messageSID)
}

// markUnsureBackfillNote: the note of our message messageSID may have
// been added.
func markUnsureBackfillNote(messageSID string) marker {
	return marker("unsure-backfill-note:" + messageSID)
}

// kindBackfill imports a batch of one customer's texts, oldest first,
// under the customer's orderKey, so that it runs between their live
// texts, never beside them.
const kindBackfill = "relay.backfill"

// identityAskedRecordSID is the SID of the store.Message that records when
// the prompt to phone went out, the start of the first attempt that may
// have sent it (its PartID is an identityAskedPartID; written before that
// attempt's request; time 0 after an attempt Twilio did not take), so
// that a text received before then, which crossed the prompt, is not taken
// for the answer.
func identityAskedRecordSID(phone string) string { return "identity-asked-record:" + phone }

// identityAskedPartPrefix starts the PartID of an identity-asked record.
const identityAskedPartPrefix = "identity-asked-at:"

// identityAskedPartID is the PartID of an identity-asked record: the time
// the prompt's first attempt that may have sent it started, in UNIX
// nanoseconds.
func identityAskedPartID(at time.Time) string {
	return identityAskedPartPrefix + strconv.FormatInt(at.UnixNano(), 10)
}

// startAttemptRecordSID is the SID of the store.Message that records when
// the first attempt to start a conversation with customer text messageSID
// began (its PartID is a startAttemptPartID; written before that attempt
// and kept by the later ones), so that a look for the conversation an
// unsure attempt may have made searches since then, not since the text was
// sent (weeks before, for a text imported from history).
func startAttemptRecordSID(messageSID string) string { return "start-attempt-record:" + messageSID }

// startAttemptRecordConversation is the ConversationID of a start-attempt
// record (a store.Message needs one; the conversation is not known yet).
const startAttemptRecordConversation = "start-attempt:none"

// startAttemptPartPrefix starts the PartID of a start-attempt record.
const startAttemptPartPrefix = "start-attempt-at:"

// startAttemptPartID is the PartID of a start-attempt record: the time the
// first attempt began, in UNIX nanoseconds.
func startAttemptPartID(at time.Time) string {
	return startAttemptPartPrefix + strconv.FormatInt(at.UnixNano(), 10)
}

// unixNanoAfter reads the time in UNIX nanoseconds that follows prefix in
// a record's PartID (identityAskedPartID, startAttemptPartID).
func unixNanoAfter(partID, prefix string) (time.Time, bool) {
	s, ok := strings.CutPrefix(partID, prefix)
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}
