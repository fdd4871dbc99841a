-- Puts dead letter $1, of key $2, back as a ready job at the back of its
-- key, with attempt 0. Runs in a transaction after dead_letter_key.sql read
-- the key without locking anything: the key row is locked first (the
-- INSERT … ON CONFLICT below), the job row second, the order Claim and the
-- lease changes use. As in enqueue.sql, the new seq is drawn once the key
-- row is locked; a new key row is due at once, an existing one keeps its
-- head. No row comes back when the job is no longer a dead letter of key
-- $2 (replayed or discarded meanwhile); the caller then rolls back.
WITH job_key AS (
    INSERT INTO {schema}.job_keys AS k (key, pending, due_at)
    VALUES ($2, 1, now())
    ON CONFLICT (key) DO UPDATE SET pending = k.pending + 1
    RETURNING nextval('{schema}.jobs_seq') AS seq
)
UPDATE {schema}.jobs j
SET state   = 'ready',
    seq     = job_key.seq,
    attempt = 0,
    run_at  = now(),
    dead_at = NULL
FROM job_key
WHERE j.id = $1 AND j.key = $2 AND j.state = 'dead'
RETURNING 1
