-- $1 id, $2 key, $3 lease token, $4 lease length in µs.
WITH extended AS (
    UPDATE {schema}.jobs
    SET lease_until = now() + $4::bigint * interval '1 microsecond'
    WHERE id = $1 AND key = $2 AND lease_token = $3 AND state = 'leased'
    RETURNING key, lease_until
)
UPDATE {schema}.job_keys k
SET lease_until = extended.lease_until, due_at = extended.lease_until
FROM extended
WHERE k.key = extended.key
RETURNING 1
