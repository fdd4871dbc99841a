-- Forgets key $1 once it has no live job. Enqueue re-creates the row; an
-- Enqueue racing with this waits for the row lock and then inserts afresh.
DELETE FROM {schema}.job_keys WHERE key = $1 AND pending = 0
