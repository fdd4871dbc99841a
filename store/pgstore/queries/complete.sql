-- $1 id, $2 key, $3 lease token.
WITH done AS (
    DELETE FROM {schema}.jobs
    WHERE id = $1 AND key = $2 AND lease_token = $3 AND state = 'leased'
    RETURNING key
)
UPDATE {schema}.job_keys k
SET pending = k.pending - 1, lease_until = NULL
FROM done
WHERE k.key = done.key
RETURNING 1
