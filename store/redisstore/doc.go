// Package redisstore keeps smsrelay's records and job queue in Redis, so
// that several relay replicas can share them, and provides [Limiter], a
// sliding-window rate limiter whose budget all replicas share.
//
// # Overview
//
// [New] returns a [Store] that implements both [store.Store] and
// [store.Queue] on any [redis.UniversalClient]: a single server, a Sentinel
// failover client, or a Cluster client. It passes the conformance suite in
// package storetest. Every operation that reads and then writes more than
// one key (enqueue with de-duplication, claim, complete, retry, dead-letter,
// replay, status advance) runs as one Lua script, so it is atomic with
// respect to every other client of the same Redis. The store does no I/O in
// New and owns no goroutines; the caller owns and closes the client.
//
//	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"10.0.0.5:6379"}})
//	st, err := redisstore.New(rdb, redisstore.WithPrefix("smsrelay-eu"))
//
// Jobs of one ordering key run one at a time in enqueue order. Each claim
// gets a fresh random lease token; Complete, Retry, Extend and DeadLetter
// succeed only with the job's current token, and return
// [store.ErrLeaseLost] otherwise. A job whose lease ran out goes to the next
// Claim that picks it (it competes with the ready jobs by its run time);
// until then its holder may still complete, retry or extend it, since
// nobody else holds the job. Claim takes back only the job it hands out,
// and [Store.Stats] only reads: a lapsed lease counts as leased.
//
// # Lost replies
//
// A network blip or a read timeout can lose Redis's reply to a command that
// Redis already ran, and go-redis then sends the command again (up to
// MaxRetries times, 3 by default). Every script that writes is safe to run
// twice: each call carries an id chosen by the store (for Enqueue, the new
// job's id; for Claim, the new lease token; a random request id for the
// others), the script records its outcome under {p}:req:<id> for five
// minutes, and a second run with the same id returns that outcome and
// changes nothing. So one Enqueue inserts one job, even with a DedupeKey
// (the key holds the id of the job that recorded it); a repeated Claim
// returns the job the first run leased, instead of leasing a second one to
// nobody; a repeated Complete, Retry, DeadLetter, Extend, Replay or
// DiscardDeadLetter reports the success of the first run rather than
// [store.ErrLeaseLost] or [store.ErrNotFound]; MarkSeen and
// AdvanceMessageStatus report a change the first run made. A second call
// of the same method is a new request and gets the ordinary answer.
// Keep MaxRetries × (ReadTimeout + WriteTimeout) well under five minutes.
//
// # What the store needs from Redis
//
// Redis holds the queue, so whatever Redis forgets, the relay forgets:
//
//   - persistence: run Redis with appendonly yes (appendfsync everysec
//     loses at most about a second of writes on a crash; RDB snapshots
//     alone can lose minutes of jobs and de-duplication keys), and with
//     replicas for failover; a failover to a replica can still lose the
//     writes it had not received yet;
//   - maxmemory-policy noeviction: under an evicting policy Redis may drop
//     a job hash, a key's list or a de-duplication key to make room, which
//     loses jobs, can wedge a key's queue and lets duplicates through. With
//     noeviction a full Redis refuses writes instead, and the store returns
//     those errors. Claim copes with a job hash that is gone anyway: it
//     drops the id rather than recreate a partial job, and when the job was
//     the leased head of its key, it takes the id off the key's list once
//     the lease runs out, so that the key's next job runs. It cannot bring
//     the lost job back.
//
// Records that accumulate with traffic are bounded with [WithRecordTTL], and
// the markers of lost-reply protection expire on their own; size maxmemory
// for the rest.
//
// # Key layout
//
// With the prefix p (default [DefaultPrefix]) every key starts with "{p}:".
// Operators may read them; only the store should write them.
//
//	{p}:contacts          hash   phone → Intercom contact id
//	{p}:threads           hash   "customer|sender" → thread (JSON: contact_id,
//	                             conversation_id, state, state_at (absent
//	                             when unknown), last_inbound)
//	{p}:conversations     hash   Intercom conversation id → "customer|sender"
//	{p}:msg:<sid>         hash   message: conversation, part, customer,
//	                             sender, status, error_code, rank, started
//	                             ("1" or "0"; absent before this release)
//	{p}:part:<marker>     string marker (Store.Mark), named for the
//	                             relayed conversation parts it first recorded
//	{p}:optout            set    "customer|sender" pairs that opted out
//	{p}:seen:<key>        string de-duplication key, with a TTL (PX); holds
//	                             the id of the job or call that recorded it
//	{p}:req:<id>          string outcome of a call, kept five minutes (see
//	                             Lost replies)
//	{p}:job:<id>          hash   job: kind, key, payload, state (ready,
//	                             leased, dead), attempt, lease, until, err,
//	                             created, run, died; ids are random, 32 hex
//	                             digits
//	{p}:q:<key>           list   ids of the ready and leased jobs of one
//	                             ordering key, oldest first; the head is the
//	                             only one that may run
//	{p}:runnable          zset   ordering keys whose head is ready, scored by
//	                             the head's run time
//	{p}:leased            zset   leased job ids, scored by lease expiry
//	{p}:leasekeys         hash   leased job id → its ordering key, so that
//	                             a leased job whose hash is gone can be
//	                             taken off its key's list
//	{p}:pending           set    ids of all ready and leased jobs
//	{p}:dead              zset   dead-lettered job ids, oldest first
//	{p}:seq               string dead-letter sequence
//	{p}:clock             string last time handed out, see Clock
//
// Records written by earlier releases stay as they are. A message hash
// without the started field has Started false, except that one with the
// status "received:started-conversation" (how earlier releases recorded a
// customer's text that started its conversation) reads as the status
// "received" with Started set, and keeps Started when its status moves
// on; the store converts it when it reads it and leaves the hash alone, so
// that replicas of an earlier release still running during a rolling
// upgrade read what they wrote. A thread without state_at has a zero
// StateAt, and replicas of an earlier release drop state_at from a thread
// they write.
//
// {p}:leasekeys is new in this release. Leases that replicas of an earlier
// release grant have no entry in it (Claim then cannot free the key of such
// a job if its hash vanishes), and leases they end keep theirs: a few dozen
// bytes per job for as long as a rolling upgrade lasts, read by nobody.
//
// Times are microseconds since the Unix epoch. To inspect the dead letters
// by hand: ZRANGE {p}:dead 0 -1, then HGETALL {p}:job:<id>; the err field
// holds the reason. Use [Store.Replay] and [Store.DiscardDeadLetter] to act on
// them, never direct writes.
//
// Records that accumulate with traffic (messages, markers)
// are kept forever by default; [WithRecordTTL] makes them expire.
//
// # Redis Cluster
//
// The scripts touch keys they discover as they run (a job's hash, a key's
// list), and Redis Cluster only lets a script touch keys of one slot. The
// prefix is therefore a hash tag: all of a store's keys hash to the slot of
// "{p}", and live on one shard. That is the trade-off: a Cluster gives the
// store high availability through that shard's replicas, but no horizontal
// scaling; the relay's data and job rate are small enough for one shard.
// Several deployments sharing a Cluster can spread over shards by using
// different prefixes.
//
// # Clock
//
// Leases, retry delays, run times and de-duplication TTLs are all measured
// with the Redis server's clock (TIME inside the scripts, PX for TTLs),
// never with the clock of the process calling, so replicas whose clocks
// disagree still agree on when a lease runs out. The scripts make the time
// they hand out strictly increasing ({p}:clock), so jobs enqueued one after
// another keep their order even within one microsecond, and a Redis clock
// stepping back does not reorder the queue. Job.CreatedAt is on the Redis
// clock too.
//
// {p}:clock is the last time handed out, and the clock never goes below
// it. After a failover to a server whose clock is behind the old one's,
// queue time therefore stands still (each script adds one microsecond)
// until the new server's clock catches up: leases, retry delays and run
// times stretch by the difference. Keep the servers' clocks in sync (NTP)
// so that the difference is milliseconds. De-duplication and record TTLs
// are Redis key expiries and follow the new server's own clock.
//
// # Limiter
//
// [NewLimiter] returns a [Limiter] whose Wait admits at most n calls in any
// window of length window, counted in one Redis sorted set shared by every
// replica that uses the same key ([WithLimiterKey]). It is a true sliding
// window: a script on the Redis clock drops admissions older than the
// window, admits when fewer than n remain, and otherwise tells the caller
// how long until the oldest one leaves, which Wait sleeps (honouring its
// context) before trying again. Like intercom.WindowLimiter, it spaces
// admissions by the window plus a transit margin, because Intercom counts a
// call when it arrives and transit times vary; the margin is sized from the
// latencies an *intercom.Client reports ([Limiter.Observe],
// intercom.MarginMeter). pgstore has the same limiter in PostgreSQL. Which
// limiter to use:
//
//   - one relay process: intercom.NewWindowLimiter, in memory, no Redis
//     round trip;
//   - several replicas sharing one Intercom workspace: this Limiter, with
//     the same key, n and window in every replica, so that together they
//     stay inside Intercom's budget, which it enforces per 10-second
//     window (the intercom package defaults to 83 calls per 10 seconds);
//   - in both cases the Intercom client's back-off on X-RateLimit-Remaining
//     and 429 answers is the safety net for traffic the limiter cannot see,
//     such as other apps on the same workspace.
//
// A GCRA limiter such as github.com/go-redis/redis_rate was considered and
// not used: a token bucket of rate n per window with burst n admits a full
// burst and then a steady refill, so a window of length window can hold up to
// about 2n calls, which is exactly what Intercom's per-window budget
// forbids. The sliding-window log costs one sorted-set entry per admission,
// at most n per key.
package redisstore
