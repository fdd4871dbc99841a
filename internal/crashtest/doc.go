// Package crashtest holds the relay's crash test: a real relay process,
// killed with SIGKILL at hundreds of seeded random points (some of them
// right after Intercom or Twilio applied a request and before the relay
// could record it), restarted each time, on PostgreSQL and on Redis, under a
// steady mixed workload against the fake APIs. The package has no API; its
// test counts what the promise in the relay package doc allows (texts lost:
// none; duplicates: only from the window between a side effect and its
// record) and fails when a count leaves its bound.
//
// TestCrashBackfillPostgres and TestCrashBackfillRedis run the same test
// with a backfill: Twilio's log holds a history of 300 texts over ten
// customers (four of them also the live workload's), which the relay
// process imports with Relay.Backfill, run again on every start until a run
// ends without an error, beside a lighter live workload. While it runs, the
// kills are paced by the backfill's writes (right after the n-th, or a
// moment after it), so that every process imports a few texts at most. At
// the end every history text must be in Intercom once, on its customer's
// conversation (theirs as a message from their contact, ours as a note) or,
// for texts of ours before the customer's first, on their contact, oldest
// first, and none twice (a note on a contact is looked for among the
// contact's notes, as one on a conversation among its parts). A last run must find every text imported.
//
// It runs when SMSRELAY_CRASH_TEST is 1 and the store URLs are set (.ci/run
// runs it in a step of its own, so that it does not load the machine while
// other packages' timing-sensitive tests run):
//
//	SMSRELAY_CRASH_TEST=1 \
//	SMSRELAY_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	SMSRELAY_TEST_REDIS_URL='redis://127.0.0.1:6379/0' \
//	go test -race -v -run TestCrash ./internal/crashtest
//
// SMSRELAY_CRASH_SEED replays a run's kill schedule and workload choices;
// SMSRELAY_CRASH_KILLS changes the number of kills per store (default 200),
// SMSRELAY_CRASH_BACKFILL_KILLS that of the backfill's test (default 24),
// SMSRELAY_CRASH_HISTORY the number of texts it backfills (default 300).
package crashtest
