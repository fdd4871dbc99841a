-- store.Thread.StateAt: when the conversation's state last changed, NULL
-- when unknown (threads written before this migration, or by a replica of
-- an earlier release, which leaves the column as it was).
ALTER TABLE {schema}.threads ADD COLUMN state_at timestamptz;

-- store.Message.Started: this customer's text started its conversation.
-- Earlier releases recorded that as the status
-- 'received:started-conversation'; such rows become status 'received'
-- with started set. Rows that replicas of an earlier release write during
-- a rolling upgrade are read the same way (see message.sql).
ALTER TABLE {schema}.messages ADD COLUMN started boolean NOT NULL DEFAULT false;

UPDATE {schema}.messages
SET status = 'received', started = true
WHERE status = 'received:started-conversation';
