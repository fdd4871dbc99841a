INSERT INTO {schema}.messages (sid, conversation_id, part_id, customer, sender, status, status_rank, error_code, started)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (sid) DO UPDATE SET
    conversation_id = EXCLUDED.conversation_id,
    part_id         = EXCLUDED.part_id,
    customer        = EXCLUDED.customer,
    sender          = EXCLUDED.sender,
    status          = EXCLUDED.status,
    status_rank     = EXCLUDED.status_rank,
    error_code      = EXCLUDED.error_code,
    started         = EXCLUDED.started,
    updated_at      = now()
