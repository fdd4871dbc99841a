SELECT contact_id, conversation_id, state, state_at, last_inbound
FROM {schema}.threads
WHERE customer = $1 AND sender = $2
