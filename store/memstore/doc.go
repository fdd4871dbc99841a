// Package memstore keeps the relay's records and its job queue in the memory
// of one process. It implements [store.Store] and [store.Queue] and passes
// the conformance suite in [github.com/smsrelay/smsrelay/store/storetest].
//
// # When to use it
//
// memstore needs no server (examples/server uses it for mem://), and it suits
// development, tests, and a single relay process that can afford to lose
// work. Be clear about what it cannot do:
//
//   - Everything is lost when the process exits or crashes: queued and leased
//     jobs (inbound SMS not yet in Intercom, agent replies not yet sent),
//     dead letters, threads, contact mappings, opt-outs and de-duplication
//     keys. After a restart the relay starts new conversations for old
//     threads, and webhooks retried by Twilio or Intercom are no longer
//     recognised as duplicates.
//   - It cannot be shared: two processes each with a memstore do not see each
//     other's records, so running several relay replicas on memstore creates
//     duplicate contacts and conversations and breaks per-thread ordering.
//
// For durability or several replicas use
// [github.com/smsrelay/smsrelay/store/pgstore] or
// [github.com/smsrelay/smsrelay/store/redisstore].
//
// # Behaviour
//
// A [Store] is safe for concurrent use by any number of goroutines. All
// methods are fast and never block on anything but a short internal lock;
// each checks its context first and fails with the context's error if it is
// done. Payloads are copied in and out, so callers may reuse their slices.
//
// Claim does not scan the queue: only the first waiting job of each ordering
// key can run, and those are kept in two heaps (by run time, and by age once
// due), so Claim, Complete, Retry and Enqueue cost O(log k) for k keys with
// waiting jobs. Seen keys are kept in a heap by expiry, and expired ones are
// swept as new keys are recorded, so memory holds only live keys.
//
// A lease that has run out keeps counting in [store.Stats].Leased until the
// job is claimed again, and its holder may still Complete, Retry, Extend or
// DeadLetter the job until then. MarkSeen of a key already recorded does not
// extend its TTL. A replayed dead letter keeps its ID, CreatedAt and
// LastError.
//
// [New] cannot fail, so it returns no error: its options accept every
// value (see [Option]).
package memstore
