-- Leases the head job of the key that has been due longest, in one
-- statement. $1 new lease token, $2 lease length in µs.
--
-- job_keys.due_at says when each key's head job (its oldest live job) may
-- next be claimed, so the search is one step along the due_at index. The
-- key row is locked FOR UPDATE SKIP LOCKED: two claimers never hold one key
-- row, and a claimer that reaches a row right after another committed a
-- lease on it re-checks the row's newest version (READ COMMITTED), finds
-- due_at in the future and moves on. Holding the key row, the statement
-- locks the key's head job; a head that finished after this statement's
-- snapshot is skipped by the lock, and the next one in seq order is taken.
-- A head that was dead-lettered and replayed after the snapshot is skipped
-- too: its row passes the lock's re-check of key and state, but Replay gave
-- it a new seq, drawn after the snapshot and so above every seq the
-- snapshot shows for the key (last_seq), and put it behind the key's
-- waiting jobs; the lock's re-check of seq <= last_seq drops it, and the
-- next job in seq order is taken. The job is leased only if it is really
-- runnable (ready with run_at reached, or leased with its lease lapsed).
-- Either way due_at is set from the job as it now stands, so a due_at that
-- was stale costs one empty claim and no more. When no head is visible to this statement's snapshot
-- (its jobs all committed after the snapshot was taken, or the only one it
-- shows was replayed since), the key is looked at again a second later.
WITH due_key AS (
    SELECT key
    FROM {schema}.job_keys
    WHERE due_at <= now()
    ORDER BY due_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), last_seq AS (
    SELECT max(j.seq) AS seq
    FROM {schema}.jobs j
    WHERE j.key = (SELECT key FROM due_key) AND j.state <> 'dead'
), head AS (
    SELECT j.id, j.key, j.state, j.run_at, j.lease_until
    FROM {schema}.jobs j
    WHERE j.key = (SELECT key FROM due_key) AND j.state <> 'dead'
      AND j.seq <= (SELECT seq FROM last_seq)
    ORDER BY j.seq
    LIMIT 1
    FOR UPDATE
), claimed AS (
    UPDATE {schema}.jobs j
    SET state       = 'leased',
        attempt     = j.attempt + 1,
        lease_token = $1,
        lease_until = now() + $2::bigint * interval '1 microsecond'
    FROM head
    WHERE j.id = head.id
      AND ((j.state = 'ready' AND j.run_at <= now())
           OR (j.state = 'leased' AND j.lease_until <= now()))
    RETURNING j.id, j.kind, j.key, j.payload, j.state, j.attempt, j.lease_token, j.last_error, j.created_at, j.lease_until
), keyed AS (
    UPDATE {schema}.job_keys k
    SET lease_until = coalesce(claimed.lease_until, k.lease_until),
        due_at      = coalesce(claimed.lease_until,
                               CASE WHEN head.state = 'leased' THEN head.lease_until ELSE head.run_at END,
                               now() + interval '1 second')
    FROM due_key
    LEFT JOIN head ON true
    LEFT JOIN claimed ON true
    WHERE k.key = due_key.key
)
SELECT id, kind, key, payload, state, attempt, lease_token, last_error, created_at FROM claimed
