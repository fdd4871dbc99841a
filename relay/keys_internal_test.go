package relay

import (
	"testing"
	"time"
)

// The times recorded in PartIDs read back to the nanosecond; anything else
// is not read as a time.
func TestRecordedTimesReadBack(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 30, 123456789, time.UTC)
	if got, ok := startAttemptAt(startAttemptPartID(at)); !ok || !got.Equal(at) {
		t.Errorf("start attempt: %v, %v; want %v", got, ok, at)
	}
	if got, ok := identityAskedAt(identityAskedPartID(at)); !ok || !got.Equal(at) {
		t.Errorf("identity asked: %v, %v; want %v", got, ok, at)
	}
	for _, p := range []string{"", "start-attempt-at:", "start-attempt-at:x1", identityAskedPartID(at), "start-attempt-at:1.5"} {
		if got, ok := startAttemptAt(p); ok {
			t.Errorf("startAttemptAt(%q) = %v, want no time", p, got)
		}
	}
}
