-- $3 is store.StatusRank($2). The message's row is locked first, which in
-- READ COMMITTED yields its newest version even when a concurrent advance
-- committed after this statement began; the rank comparison and the update
-- then run against that version, so concurrent advances serialise and the
-- status only ever moves forward. started is kept; a row that a replica of
-- a release before the started column wrote with the status
-- 'received:started-conversation' keeps that fact in started when its
-- status moves on. The message comes back as stored afterwards, with
-- whether this call changed it.
WITH current AS (
    SELECT sid, conversation_id, part_id, customer, sender, status, status_rank, error_code, started
    FROM {schema}.messages
    WHERE sid = $1
    FOR UPDATE
), advanced AS (
    UPDATE {schema}.messages m
    SET status = $2, status_rank = $3, error_code = $4, updated_at = now(),
        started = current.started OR current.status = 'received:started-conversation'
    FROM current
    WHERE m.sid = current.sid AND current.status_rank < $3
    RETURNING m.sid, m.conversation_id, m.part_id, m.customer, m.sender, m.status, m.error_code, m.started
)
SELECT sid, conversation_id, part_id, customer, sender, status, error_code, started, true FROM advanced
UNION ALL
SELECT sid, conversation_id, part_id, customer, sender, status, error_code, started, false
FROM current
WHERE NOT EXISTS (SELECT 1 FROM advanced)
