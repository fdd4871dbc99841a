SELECT sid, conversation_id, part_id, customer, sender, status, error_code
FROM {schema}.messages
WHERE sid = $1
