package relay

import (
	"strings"
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

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Minute: "10m", time.Hour: "1h", 90 * time.Second: "1m30s", 1500 * time.Millisecond: "2s", 2*time.Hour + 30*time.Minute: "2h30m",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestPageTextMasksAndQuotesOneLine(t *testing.T) {
	long := strings.Repeat("x", 150)
	got := pageText("Tagged urgent", "+14155550123", "<p>"+long+"</p><p>second line</p>", "https://app.intercom.com/a/inbox/w/inbox/conversation/1")
	if strings.Contains(got, "+14155550123") || strings.Contains(got, "second line") || !strings.Contains(got, strings.Repeat("x", pageLineMax-3)+"...") {
		t.Errorf("pageText = %q", got)
	}
	if _, _, ok := parsePagePartID(pagePartID(time.Unix(100, 0), "", "quiet:5")); !ok {
		t.Error("parsePagePartID cannot read a page record without an admin")
	}
}
