-- Taken first by every change to a leased job, so that locks are always
-- acquired key row first, job row second (as Claim does).
SELECT 1 FROM {schema}.job_keys WHERE key = $1 FOR UPDATE
