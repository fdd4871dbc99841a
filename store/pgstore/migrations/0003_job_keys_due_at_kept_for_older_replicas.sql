-- Replicas of the release before 0002 (which added job_keys.due_at) may
-- still run during a rolling upgrade. They do not know due_at: their
-- Complete, Retry and DeadLetter clear the key row's lease_until and leave
-- due_at as it was, which after a lease granted by a newer replica is the
-- end of that lease, so the key's next job would wait for it to run out.
-- This trigger notices such an update (lease_until cleared, due_at left
-- as it was; every newer statement that clears lease_until sets due_at)
-- and makes the key due at once. The next Claim then either leases the
-- key's head or, if the head must still wait, sets due_at from it: one
-- empty Claim at most. Should a newer statement happen to set due_at to
-- the very value it had, the trigger costs that one empty Claim too, and
-- nothing else.
CREATE FUNCTION {schema}.job_keys_due_after_older_replica() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.due_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER job_keys_due_after_older_replica
BEFORE UPDATE ON {schema}.job_keys
FOR EACH ROW
WHEN (OLD.lease_until IS NOT NULL AND NEW.lease_until IS NULL
      AND NEW.due_at IS NOT DISTINCT FROM OLD.due_at)
EXECUTE FUNCTION {schema}.job_keys_due_after_older_replica();
