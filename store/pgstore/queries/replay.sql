-- Puts dead letter $1 back as a ready job at the back of its key, with
-- attempt 0. As in enqueue.sql, the new seq is drawn once the key row is
-- locked. No row comes back when there is no such dead letter.
WITH dead AS (
    SELECT id, key FROM {schema}.jobs WHERE id = $1 AND state = 'dead' FOR UPDATE
), job_key AS (
    INSERT INTO {schema}.job_keys AS k (key, pending)
    SELECT key, 1 FROM dead
    ON CONFLICT (key) DO UPDATE SET pending = k.pending + 1
    RETURNING nextval('{schema}.jobs_seq') AS seq
)
UPDATE {schema}.jobs j
SET state   = 'ready',
    seq     = job_key.seq,
    attempt = 0,
    run_at  = now(),
    dead_at = NULL
FROM dead, job_key
WHERE j.id = dead.id
RETURNING 1
