-- The shared Intercom request budget of Limiter: one row per budget key,
-- holding the database-clock times of the admissions still inside the
-- window (oldest first), whether the last attempt was admitted, and when
-- that attempt was made. One statement (queries/admit_budget.sql) reads and
-- rewrites the row under its row lock, so replicas never admit past the
-- budget together.
CREATE TABLE {schema}.intercom_budget (
    key     text PRIMARY KEY,
    admits  timestamptz[] NOT NULL,
    granted boolean NOT NULL,
    at      timestamptz NOT NULL
);
