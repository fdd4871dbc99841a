-- Claim finds work through job_keys instead of walking the jobs table.
-- due_at is when the key's head job (its oldest live job) may next be
-- claimed: its run_at while it waits, its lease_until while it is leased.
-- Every change to a key's head keeps due_at in step under the key row's
-- lock; a stale due_at that lies in the past only costs one empty Claim,
-- which sets it right.
ALTER TABLE {schema}.job_keys ADD COLUMN due_at timestamptz DEFAULT now();

UPDATE {schema}.job_keys k
SET due_at = coalesce((
    SELECT CASE WHEN j.state = 'leased' THEN j.lease_until ELSE j.run_at END
    FROM {schema}.jobs j
    WHERE j.key = k.key AND j.state <> 'dead'
    ORDER BY j.seq
    LIMIT 1
), now());

CREATE INDEX job_keys_due_at_idx ON {schema}.job_keys (due_at);

-- No statement walks the live jobs in seq order any more; the jobs of one
-- key are found through jobs_live_key_seq_idx. Without this index the
-- planner cannot pick it for a key it does not know in advance.
DROP INDEX {schema}.jobs_live_seq_idx;
