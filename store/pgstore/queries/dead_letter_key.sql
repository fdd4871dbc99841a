-- The key of dead letter $1, read without a lock (see replay.sql).
SELECT key FROM {schema}.jobs WHERE id = $1 AND state = 'dead'
