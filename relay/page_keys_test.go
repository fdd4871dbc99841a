package relay

import (
	"testing"
	"time"
)

// TestPagingKeysNeverChange pins the strings agent paging stores, as
// TestPersistedKeysNeverChange does for the others.
func TestPagingKeysNeverChange(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 30, 0, time.UTC)
	for _, tc := range []struct{ got, want string }{
		{string(markPaged("c1", "p9")), "paged:c1:p9"},
		{string(markPageSent("c1", "p9", 0)), "page-sent:c1:p9:0"},
		{string(markUnsurePage("c1", "p9", 1)), "unsure-page:c1:p9:1"},
		{string(markPageAckPart("p3")), "page-ack-part:p3"},
		{string(markPageAckNoted("SM1")), "page-ack-noted:SM1"},
		{string(markPageAckTold("SM1")), "page-ack-told:SM1"},
		{pageRecordSID("+14155550199", "+14155550100"), "page:+14155550199:+14155550100"},
		{pagePartID(at, "991", "p9"), "page:1796032830:991:p9"},
		{dedupePageWait("SM1"), "relay:page-wait:SM1"},
		{pageKey("c1"), "page:c1"},
		{kindPageWait, "relay.page-wait"},
	} {
		if tc.got != tc.want {
			t.Errorf("persisted key = %q, want %q (never change a stored key)", tc.got, tc.want)
		}
	}
}
