package relay

import "testing"

// TestBackfillKeysNeverChange pins the strings the backfill stores, as
// TestPersistedKeysNeverChange does for the others.
func TestBackfillKeysNeverChange(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{string(markBackfilled("SM1")), "backfill:SM1"},
		{string(markBackfillFailed("r1", "SM1")), "backfill-failed:r1:SM1"},
		{string(markUnsureBackfillNote("SM1")), "unsure-backfill-note:SM1"},
		{string(markBackfillPlacing("SM1")), "backfill-placing:SM1"},
		{kindBackfill, "relay.backfill"},
	} {
		if tc.got != tc.want {
			t.Errorf("stored key %q, pinned %q: never change a stored key", tc.got, tc.want)
		}
	}
}
