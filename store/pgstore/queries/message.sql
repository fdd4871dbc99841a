-- The caller reads the status 'received:started-conversation', which
-- replicas of a release before the started column write, as 'received'
-- with started set.
SELECT sid, conversation_id, part_id, customer, sender, status, error_code, started
FROM {schema}.messages
WHERE sid = $1
