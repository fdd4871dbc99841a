-- $1 id, $2 key, $3 lease token, $4 delay in µs, $5 reason. The job keeps its
-- seq, so the other jobs of its key stay behind it, and its key is due when
-- the job may run again.
WITH retried AS (
    UPDATE {schema}.jobs
    SET state       = 'ready',
        run_at      = now() + $4::bigint * interval '1 microsecond',
        lease_token = NULL,
        lease_until = NULL,
        last_error  = $5
    WHERE id = $1 AND key = $2 AND lease_token = $3 AND state = 'leased'
    RETURNING key, run_at
)
UPDATE {schema}.job_keys k
SET lease_until = NULL, due_at = retried.run_at
FROM retried
WHERE k.key = retried.key
RETURNING 1
