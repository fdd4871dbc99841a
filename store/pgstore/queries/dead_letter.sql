-- $1 id, $2 key, $3 lease token, $4 reason. As in complete.sql, the key's
-- next job becomes its head.
WITH dead AS (
    UPDATE {schema}.jobs
    SET state       = 'dead',
        dead_at     = now(),
        lease_token = NULL,
        lease_until = NULL,
        last_error  = $4
    WHERE id = $1 AND key = $2 AND lease_token = $3 AND state = 'leased'
    RETURNING key
)
UPDATE {schema}.job_keys k
SET pending     = k.pending - 1,
    lease_until = NULL,
    due_at      = (
        SELECT CASE WHEN o.state = 'leased' THEN o.lease_until ELSE o.run_at END
        FROM {schema}.jobs o
        WHERE o.key = dead.key AND o.state <> 'dead' AND o.id <> $1
        ORDER BY o.seq
        LIMIT 1
    )
FROM dead
WHERE k.key = dead.key
RETURNING 1
