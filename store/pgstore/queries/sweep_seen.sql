-- Deletes up to $1 expired seen keys. Rows being re-recorded concurrently
-- are skipped (SKIP LOCKED) or no longer expired when re-checked.
DELETE FROM {schema}.seen_keys
WHERE key IN (
    SELECT key FROM {schema}.seen_keys
    WHERE expires_at <= now()
    ORDER BY expires_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
