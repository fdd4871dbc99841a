SELECT id, kind, key, payload, state, attempt, coalesce(lease_token, ''), last_error, created_at
FROM {schema}.jobs
WHERE state = 'dead'
ORDER BY dead_at, id
LIMIT $1
