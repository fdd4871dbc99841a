-- Replaces the thread and maps its conversation to it, in one statement.
WITH thread AS (
    INSERT INTO {schema}.threads (customer, sender, contact_id, conversation_id, state, state_at, last_inbound)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (customer, sender) DO UPDATE SET
        contact_id      = EXCLUDED.contact_id,
        conversation_id = EXCLUDED.conversation_id,
        state           = EXCLUDED.state,
        state_at        = EXCLUDED.state_at,
        last_inbound    = EXCLUDED.last_inbound,
        updated_at      = now()
)
INSERT INTO {schema}.conversations (conversation_id, customer, sender) VALUES ($4, $1, $2)
ON CONFLICT (conversation_id) DO UPDATE SET customer = EXCLUDED.customer, sender = EXCLUDED.sender
