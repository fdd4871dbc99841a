-- Initial schema of pgstore. {schema} is replaced with the quoted schema
-- name (WithSchema, default smsrelay) before this file runs.

-- Intercom contact id of each customer phone number.
CREATE TABLE {schema}.contacts (
    phone      text PRIMARY KEY,
    contact_id text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The conversation that currently carries each thread (customer, sender).
CREATE TABLE {schema}.threads (
    customer        text NOT NULL,
    sender          text NOT NULL,
    contact_id      text NOT NULL,
    conversation_id text NOT NULL,
    state           text NOT NULL CHECK (state IN ('open', 'closed')),
    last_inbound    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer, sender)
);

-- Every conversation that carries or carried a thread; kept when the thread
-- moves on to a new conversation or is deleted.
CREATE TABLE {schema}.conversations (
    conversation_id text PRIMARY KEY,
    customer        text NOT NULL,
    sender          text NOT NULL
);

-- Messages sent by the relay. status_rank is store.StatusRank(status), so that
-- the status only ever moves forward.
CREATE TABLE {schema}.messages (
    sid             text PRIMARY KEY,
    conversation_id text NOT NULL,
    part_id         text NOT NULL,
    customer        text NOT NULL,
    sender          text NOT NULL,
    status          text NOT NULL,
    status_rank     integer NOT NULL,
    error_code      integer NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Intercom conversation parts already relayed.
CREATE TABLE {schema}.relayed_parts (
    part_id    text PRIMARY KEY,
    relayed_at timestamptz NOT NULL DEFAULT now()
);

-- Customers who opted out of messages from a sender: a row means opted out.
CREATE TABLE {schema}.opt_outs (
    customer   text NOT NULL,
    sender     text NOT NULL,
    opted_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer, sender)
);

-- De-duplication keys (Store.MarkSeen and NewJob.DedupeKey). A key counts as
-- seen while expires_at is in the future (database clock); expired rows are
-- swept opportunistically.
CREATE TABLE {schema}.seen_keys (
    key        text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX seen_keys_expires_at_idx ON {schema}.seen_keys (expires_at);

-- Jobs. seq orders the jobs of a key (and the queue as a whole); a replayed
-- dead letter gets a new seq so that it runs behind the waiting jobs of its
-- key. Dead letters stay in this table with state 'dead'.
CREATE SEQUENCE {schema}.jobs_seq AS bigint;

CREATE TABLE {schema}.jobs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seq         bigint NOT NULL DEFAULT nextval('{schema}.jobs_seq'),
    kind        text NOT NULL,
    key         text NOT NULL,
    payload     bytea NOT NULL,
    state       text NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'leased', 'dead')),
    attempt     integer NOT NULL DEFAULT 0,
    run_at      timestamptz NOT NULL DEFAULT now(),
    lease_token text,
    lease_until timestamptz,
    last_error  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    dead_at     timestamptz,
    CHECK ((state = 'leased') = (lease_token IS NOT NULL AND lease_until IS NOT NULL)),
    CHECK ((state = 'dead') = (dead_at IS NOT NULL))
);
ALTER SEQUENCE {schema}.jobs_seq OWNED BY {schema}.jobs.seq;

-- Claim walks live jobs in seq order; the head check looks up the oldest live
-- job of a key; operators list dead letters.
CREATE INDEX jobs_live_seq_idx ON {schema}.jobs (seq) WHERE state <> 'dead';
CREATE INDEX jobs_live_key_seq_idx ON {schema}.jobs (key, seq) WHERE state <> 'dead';
CREATE INDEX jobs_dead_idx ON {schema}.jobs (dead_at, id) WHERE state = 'dead';

-- One row per ordering key with live (ready or leased) jobs. Claim locks the
-- row (FOR UPDATE SKIP LOCKED) and stamps lease_until on it, so that two
-- claimers can never lease two jobs of one key; pending counts the key's
-- live jobs, and the row is deleted when it drops to zero.
CREATE TABLE {schema}.job_keys (
    key         text PRIMARY KEY,
    pending     integer NOT NULL CHECK (pending >= 0),
    lease_until timestamptz
);
