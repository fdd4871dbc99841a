package relay

import (
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
)

// TestPersistedKeysNeverChange pins every string the relay stores. These
// strings are in users' databases: if this test fails, a change would make
// the relay forget what earlier releases recorded. Add a new key instead.
func TestPersistedKeysNeverChange(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 30, 0, time.UTC)
	for _, tc := range []struct{ got, want string }{
		{string(markPartRelayed("p1")), "intercom:p1"},
		{string(markChunkSent("p1", 2)), "intercom:p1:2"},
		{string(markUnsureSend("p1", 0)), "unsure-send:p1:0"},
		{string(markUnsureStart("SM1")), "unsure-start:SM1"},
		{string(markUnsureStartAround("c1", at)), "unsure-start-contact:c1:29933880"},
		{string(markUnsureReply("SM1")), "unsure:SM1"},
		{string(markContactPart("p1")), "contact-part:p1"},
		{string(markOptChange("SM1")), "opt-change:SM1"},
		{string(markOptNote("SM1")), "opt-note:SM1"},
		{dedupeTwilioMessage("SM1"), "twilio:message:SM1"},
		{dedupeTwilioStatus("SM1", "delivered"), "twilio:status:SM1:delivered"},
		{dedupeIntercomNotification("notif_1"), "intercom:notification:notif_1"},
		{dedupeRoute("c1"), "relay:route:c1"},
		{orderKey("whatsapp:+14155550123"), "customer:+14155550123"},
		{orderKey("+14155550123"), "customer:+14155550123"},
		{conversationKey("c1"), "conversation:c1"},
		{statusKey("SM1"), "status:SM1"},
		{unreadableKey("+1"), "unreadable:+1"},
		{kindInbound, "twilio.inbound"},
		{kindStatus, "twilio.status"},
		{kindIntercom, "intercom.notification"},
		{kindRoute, "intercom.route"},
		{kindUnreadable, "twilio.unreadable"},
		{legacyStartedStatus, "received:started-conversation"},
		{proactivePartID("k1"), "proactive:k1"},
		{proactiveNoConversation, "proactive:none"},
		{string(markProactiveSent("k1", 0)), "proactive-sent:k1:0"},
		{string(markUnsureProactive("k1", 1)), "unsure-proactive:k1:1"},
		{string(markProactiveNoted("SM1")), "proactive-noted:SM1"},
		{string(markUnsureProactiveNote("SM1")), "unsure-proactive-note:SM1"},
		{string(markProactiveDay(store.ThreadKey{Customer: "+14155550123", Sender: "+14155550100"}, at)), "proactive-day:+14155550123|+14155550100:20787"},
		{string(markProactiveAnswered("SM1")), "proactive-answered:SM1"},
		{string(markProactiveThread(store.ThreadKey{Customer: "+14155550123", Sender: "+14155550100"})), "proactive-thread:+14155550123|+14155550100"},
		{string(markProactiveAnsweredOn("c1", at)), "proactive-answered-on:c1:20787"},
		{dedupeProactive("SM1"), "relay:proactive:SM1"},
		{kindProactive, "relay.proactive"},
		{contactSyncKey("whatsapp:+14155550123"), "contact-sync:+14155550123"},
		{dedupeContactSyncOptOut("SM1"), "relay:contact-sync:opt:SM1"},
		{dedupeContactSyncOptOut(optSourcePrompt("SM1")), "relay:contact-sync:opt:identity-prompt:SM1"},
		{dedupeContactSyncOptOut(optSourceStatus("SM2")), "relay:contact-sync:opt:status:SM2"},
		{dedupeContactSyncSent("+14155550123", time.Minute, at), "relay:contact-sync:sent:+14155550123:60:29933880"},
		{lastSentRecordSID("whatsapp:+14155550123"), "contact-sync-sent:+14155550123"},
		{lastSentRecordConversation, "contact-sync:none"},
		{lastSentPartID(at), "contact-sync-sent:1796032830"},
		{kindContactSync, "relay.contact-sync"},
		{kindReopen, "relay.whatsapp-reopen"},
		{kindCanvasSend, "relay.canvas-send"},
		{string(markCanvasSent("7", 1)), "canvas-sent:7:1"},
		{string(markUnsureCanvas("7", 0)), "unsure-canvas:7:0"},
		{string(markCanvasNoted("7")), "canvas-noted:7"},
		{canvasPartID("7"), "canvas:7"},
		{dedupeCanvas("ab", at), "relay:canvas:ab:29933880"},
		{string(markReopenSent(store.ThreadKey{Customer: "whatsapp:+14155550123", Sender: "whatsapp:+14155550100"}, at)), "wa-reopen:whatsapp:+14155550123|whatsapp:+14155550100:20787"},
		{string(markUnsureReopen(store.ThreadKey{Customer: "whatsapp:+14155550123", Sender: "whatsapp:+14155550100"}, at)), "unsure-wa-reopen:whatsapp:+14155550123|whatsapp:+14155550100:20787"},
		{reopenPartID(store.ThreadKey{Customer: "whatsapp:+14155550123", Sender: "whatsapp:+14155550100"}, at), "wa-reopen:whatsapp:+14155550123|whatsapp:+14155550100:20787"},
		{receivedStatus, "received"},
		{string(markIdentityDone("+14155550123")), "identity-done:+14155550123"},
		{string(markIdentityAsked("+14155550123")), "identity-asked:+14155550123"},
		{string(markUnsureIdentityPrompt("SM1")), "unsure-identity-prompt:SM1"},
		{string(markIdentityClaim("SM1")), "identity-claim:SM1"},
		{string(markUnsureIdentityMerge("SM1")), "unsure-identity-merge:SM1"},
		{string(markIdentityNoted("SM1")), "identity-noted:SM1"},
		{string(markUnsureIdentityNote("SM1")), "unsure-identity-note:SM1"},
		{seenIdentityPrompt("+14155550123"), "identity-prompt:+14155550123"},
		{identityPartID("+14155550123"), "identity:+14155550123"},
		{identityAskedRecordSID("+14155550123"), "identity-asked-record:+14155550123"},
		{identityAskedPartID(time.Unix(1796032830, 5)), "identity-asked-at:1796032830000000005"},
		{startAttemptRecordSID("SM1"), "start-attempt-record:SM1"},
		{startAttemptRecordConversation, "start-attempt:none"},
		{startAttemptPartID(time.Unix(1796032830, 5)), "start-attempt-at:1796032830000000005"},
	} {
		if tc.got != tc.want {
			t.Errorf("persisted key = %q, want %q (never change a stored key)", tc.got, tc.want)
		}
	}
}
