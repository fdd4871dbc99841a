-- Wakes idle workers of every replica when a job is inserted or replayed:
-- a NOTIFY on channel smsrelay_jobs, with the schema as payload, delivered
-- when the inserting transaction commits (Store.Wake listens). Once per
-- statement, so a batch of inserts costs one notification.
CREATE FUNCTION {schema}.notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('smsrelay_jobs', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OF seq ON {schema}.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.notify_jobs();
