-- Inserts a job, with its de-duplication key when $4 is not empty, in one
-- statement: either the key is recorded (or its expired record renewed) and
-- the job inserted, or nothing is written and no row comes back.
-- $1 kind, $2 key, $3 payload, $4 dedupe key or '', $5 dedupe TTL in µs.
--
-- The job's seq is drawn only once the key row is locked (in RETURNING of
-- the upsert), and the lock is held until commit: enqueues of one key
-- therefore commit in seq order, and an older job of a key can never become
-- visible after a younger one. A new key row is due at once; an existing
-- one keeps its head, and so its due_at.
WITH seen AS (
    INSERT INTO {schema}.seen_keys AS s (key, expires_at)
    SELECT $4::text, now() + $5::bigint * interval '1 microsecond'
    WHERE $4::text <> ''
    ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at
        WHERE s.expires_at <= now()
    RETURNING 1
), go_ahead AS (
    SELECT 1 WHERE $4::text = '' OR EXISTS (SELECT 1 FROM seen)
), job_key AS (
    INSERT INTO {schema}.job_keys AS k (key, pending, due_at)
    SELECT $2::text, 1, now() FROM go_ahead
    ON CONFLICT (key) DO UPDATE SET pending = k.pending + 1
    RETURNING nextval('{schema}.jobs_seq') AS seq
)
INSERT INTO {schema}.jobs (kind, key, payload, seq)
SELECT $1::text, $2::text, $3::bytea, job_key.seq FROM job_key
RETURNING id, kind, key, payload, state, attempt, coalesce(lease_token, ''), last_error, created_at
