-- $1 id, $2 key, $3 lease token. The key's next job, if any, becomes its
-- head: due_at follows its run_at. (This statement's snapshot still shows
-- the deleted job, hence id <> $1.)
WITH done AS (
    DELETE FROM {schema}.jobs
    WHERE id = $1 AND key = $2 AND lease_token = $3 AND state = 'leased'
    RETURNING key
)
UPDATE {schema}.job_keys k
SET pending     = k.pending - 1,
    lease_until = NULL,
    due_at      = (
        SELECT CASE WHEN o.state = 'leased' THEN o.lease_until ELSE o.run_at END
        FROM {schema}.jobs o
        WHERE o.key = done.key AND o.state <> 'dead' AND o.id <> $1
        ORDER BY o.seq
        LIMIT 1
    )
FROM done
WHERE k.key = done.key
RETURNING 1
