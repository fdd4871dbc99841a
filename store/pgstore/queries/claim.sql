-- Leases the oldest runnable job whose key is free, in one statement.
-- $1 new lease token, $2 lease length in µs.
--
-- A job is runnable when it is its key's head (no live job of the key has a
-- smaller seq) and it is ready with run_at reached, or leased with an
-- expired lease. Its key row must be free (no unexpired lease_until) and is
-- locked FOR UPDATE SKIP LOCKED: two claimers never hold one key row. A
-- claimer that reaches a key row right after another claimer committed a
-- lease on it re-checks the row's newest version (READ COMMITTED), sees the
-- lease and skips it; so at most one job per key is ever leased. The job
-- UPDATE re-checks the job itself, in case it was completed, retried or
-- dead-lettered since this statement's snapshot.
WITH candidate AS (
    SELECT j.id
    FROM {schema}.jobs j
    JOIN {schema}.job_keys k ON k.key = j.key
    WHERE j.state <> 'dead'
      AND ((j.state = 'ready' AND j.run_at <= now())
           OR (j.state = 'leased' AND j.lease_until <= now()))
      AND (k.lease_until IS NULL OR k.lease_until <= now())
      AND NOT EXISTS (
          SELECT 1 FROM {schema}.jobs o
          WHERE o.key = j.key AND o.state <> 'dead' AND o.seq < j.seq
      )
    ORDER BY j.seq
    LIMIT 1
    FOR UPDATE OF k SKIP LOCKED
), claimed AS (
    UPDATE {schema}.jobs j
    SET state       = 'leased',
        attempt     = j.attempt + 1,
        lease_token = $1,
        lease_until = now() + $2::bigint * interval '1 microsecond'
    FROM candidate
    WHERE j.id = candidate.id
      AND ((j.state = 'ready' AND j.run_at <= now())
           OR (j.state = 'leased' AND j.lease_until <= now()))
    RETURNING j.id, j.kind, j.key, j.payload, j.state, j.attempt, j.lease_token, j.last_error, j.created_at, j.lease_until
), held AS (
    UPDATE {schema}.job_keys k
    SET lease_until = claimed.lease_until
    FROM claimed
    WHERE k.key = claimed.key
)
SELECT id, kind, key, payload, state, attempt, lease_token, last_error, created_at FROM claimed
